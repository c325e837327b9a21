"""The same pipeline step with ``torch.distributed.pipelining`` (the reference implementation),
so the benchmark can time ours against it side by side and compare gradients.

Each rank wraps its StageModule in a ``PipelineStage`` and runs ``ScheduleGPipe`` or
``Schedule1F1B``; torch infers shapes at run time, computes each micro-batch's loss on the last
stage and scales gradients by 1/m, which is what our engine does by dividing the loss.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ppedu.runtime import cluster, comm


class _LogitsStage(torch.nn.Module):
    """torch's pipelining calls forward(x) and applies loss_fn itself: return logits, not loss."""

    def __init__(self, stage: torch.nn.Module):
        super().__init__()
        self.stage = stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage(x)


def _loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


def torch_step_job(cfg, steps: int = 3, profiler=None) -> dict:
    """Time ``steps`` steps of torch's ScheduleGPipe / Schedule1F1B; return times and step-0 grads.
    ``profiler`` (a cProfile.Profile) runs around the steps after the first, not the set-up."""
    from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe

    from ppedu.model.corpus import get_batch
    from ppedu.model.gpt import split_into_stages
    from ppedu.model.partition import partition
    r, p = cluster.rank(), cluster.world_size()
    config = cfg.model_config()
    module = split_into_stages(config, partition(config, p, cfg.partition))[r]
    stage = PipelineStage(_LogitsStage(module), r, p, cluster.device())
    cls = {"gpipe": ScheduleGPipe, "1f1b": Schedule1F1B}[cfg.schedule]
    schedule = cls(stage, n_microbatches=cfg.m, loss_fn=_loss)
    x, y = get_batch(cfg.m * cfg.micro_batch_size, cfg.seq_len, seed=cfg.seed)
    times, grads = [], {}
    for step in range(steps):
        if profiler is not None and step == 1:
            profiler.enable()
        module.zero_grad(set_to_none=True)
        comm.barrier()
        start = time.perf_counter()
        if r == 0:
            schedule.step(x)
        elif r == p - 1:
            schedule.step(target=y)
        else:
            schedule.step()
        times.append(time.perf_counter() - start)
        if step == 0:
            grads = {n: q.grad.detach().clone() for n, q in module.named_parameters() if q.grad is not None}
    if profiler is not None:
        profiler.disable()
    return {"times": times, "grads": grads}
