"""The same pipeline step with ``torch.distributed.pipelining`` (the reference implementation),
so the benchmark can time ours against it side by side and compare gradients.

Each rank wraps its StageModule in a ``PipelineStage`` and runs ``ScheduleGPipe`` or
``Schedule1F1B``; torch infers shapes at run time, computes each micro-batch's loss on the last
stage and scales gradients by 1/m, which is what our engine does by dividing the loss.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ppedu.runtime import comm, worker
from ppedu.model.gpt import split_into_stages
from ppedu.model.partition import partition
from ppedu.training.executor import step_job


def _loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


_BUILT: dict = {}   # this rank's pipeline for the last config, so a timing job can run one step


def _pipeline(cfg, fresh: bool) -> tuple:
    """(module, schedule, x, y) on this rank; built again when ``fresh`` or the config changed."""
    from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe

    if fresh or _BUILT.get("cfg") != repr(cfg):
        r, p = worker.rank(), worker.world_size()
        config = cfg.model_config()
        module = split_into_stages(config, partition(config, p, cfg.partition))[r]
        # torch calls forward(x) and applies loss_fn itself: a StageModule without targets
        # returns the logits
        stage = PipelineStage(module, r, p, worker.device())
        cls = {"gpipe": ScheduleGPipe, "1f1b": Schedule1F1B}[cfg.schedule]
        x, y = cfg.full_batch()   # the ranks' batch: torch splits it into the same m micro-batches
        _BUILT.update(cfg=repr(cfg), parts=(module, cls(stage, n_microbatches=cfg.m, loss_fn=_loss), x, y))
    return _BUILT["parts"]


@dataclass
class TorchSteps:
    """What one rank of torch's pipeline returns (see ``torch_step_job``)."""
    starts: list[float]
    ends: list[float]
    cpu_s: list[float]
    grads: dict = field(default_factory=dict)


def torch_step_job(cfg, steps: int = 3, profiler=None, fresh: bool = True) -> TorchSteps:
    """Time ``steps`` steps of torch's ScheduleGPipe / Schedule1F1B; return each step's start and
    end on the shared clock (``worker.clock``, as the executor's ``t0``/``t_end``), the CPU seconds
    this rank's thread got in it, and the step-0 gradients.
    ``fresh=False`` reuses the pipeline built by the last call with this config (torch infers
    shapes on its first step: a warm pipeline can time one step). ``profiler`` (a
    cProfile.Profile) runs around the steps after the first."""
    r, p = worker.rank(), worker.world_size()
    module, schedule, x, y = _pipeline(cfg, fresh)
    starts, ends, cpu, grads = [], [], [], {}
    for step in range(steps):
        if profiler is not None and step == 1:
            profiler.enable()
        module.zero_grad(set_to_none=True)
        comm.barrier()
        starts.append(worker.clock())
        cpu_start = time.thread_time()
        if r == 0:
            schedule.step(x)
        elif r == p - 1:
            schedule.step(target=y)
        else:
            schedule.step()
        ends.append(worker.clock())
        cpu.append(time.thread_time() - cpu_start)
        if step == 0 and fresh:
            grads = {n: q.grad.detach().clone() for n, q in module.named_parameters() if q.grad is not None}
    if profiler is not None:
        profiler.disable()
    return TorchSteps(starts, ends, cpu, grads)


def paired_steps_job(cfg, first_step: int, pairs: int) -> list[tuple]:
    """``pairs`` (our step, torch's step) pairs, back to back in one job, in ABBA order (ours
    first in even pairs, torch first in odd ones): the two steps of a pair see the same load on a
    shared CPU, which drifts from second to second, so their ratio is far less noisy than the
    ratio of two separate runs. Ours is ``executor.step_job``'s record; torch's is
    ``torch_step_job``'s for one warm step. Both pipelines must have been built (a first step)."""
    out = []
    for k in range(pairs):
        if k % 2 == 0:
            ours = step_job(cfg, first_step + k)
            theirs = torch_step_job(cfg, 1, None, False)
        else:
            theirs = torch_step_job(cfg, 1, None, False)
            ours = step_job(cfg, first_step + k)
        out.append((ours, theirs))
    return out
