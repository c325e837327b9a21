"""What each rank runs for chapter 1 (cluster jobs), and the typed reports they send back.

Read top-down:
  TPStepReport, tp_step_job       one TP step of the whole model: loss, logits, gradient shards
  MeshStep, MeshRankReport        one rank's counters per measured step of a tp x pp mesh
  check_setup                     can a tp x pp mesh run this model? The one check (UsageError)
  mesh_step_job, pipeline_step    forward+backward of a tp x pp mesh (GPipe over the pp axis)
  reference_step_job              the whole model on one rank: the compute the mesh splits

The driver side (totals, the cost model, the comparison) is ``ppedu.tensor_parallel.compare``.
Reports are dataclasses (picklable: they cross the process boundary); read them by attribute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ppedu.errors import UsageError, check_int
from ppedu.i18n.messages import _
from ppedu.model.corpus import get_batch
from ppedu.model.gpt import GPT, GPTConfig
from ppedu.model.memory import SavedTensorMeter
from ppedu.model.partition import uniform_bounds
from ppedu.runtime import comm, worker
from ppedu.tensor_parallel.layers import TPGPT, init_parallel_groups


@dataclass
class TPStepReport:
    """One rank's share of a TP step (``tp_step_job``)."""
    tp_rank: int
    loss: float
    logits: torch.Tensor              # (B, T, V): every TP rank holds the whole output
    grads: dict[str, torch.Tensor]    # this rank's shards, named as in the full model
    all_reduces: int


@dataclass
class MeshStep:
    """One measured step of one mesh rank: when, what it sent, how long it waited, what it held."""
    t0: float                         # on the shared clock
    t1: float
    loss: float | None                # the last pipeline stage only
    all_reduces: int
    all_reduce_bytes: int
    p2p_messages: int
    p2p_bytes: int
    comm_s: float                     # blocked in communication (waits + emulated link delay)
    link_delay_s: float
    activation_bytes: int             # peak bytes autograd saved


@dataclass
class MeshRankReport:
    """What one rank of ``mesh_step_job`` returns."""
    rank: int
    tp_rank: int
    pp_rank: int
    steps: list[MeshStep]
    param_bytes: int
    grads: dict[str, torch.Tensor] | None    # with ``return_grads``: this rank's shards


def tp_step_job(config: GPTConfig, tp: int, batch: int = 4, seq: int = 16, data_seed: int = 0) -> TPStepReport:
    """Forward + backward of the whole model with TP over ``tp`` ranks; returns loss, logits, grads.

    With more ranks than ``tp`` the other ranks form further TP groups that compute the same step
    (replicas), so tp=1, 2 and 4 all run on one warm 4-rank cluster. Grads are this rank's shards.
    """
    groups = init_parallel_groups(tp, worker.world_size() // tp)
    dev = worker.device()
    model = TPGPT(GPT(config), groups.tp_group).to(dev)
    x, y = (t.to(dev) for t in get_batch(batch, seq, data_seed))
    comm.reset_stats()
    logits = model(x)                                                      # (B, T, V)
    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
    loss.backward()
    return TPStepReport(groups.tp_rank, loss.item(), logits.detach().cpu(),
                        {n: p.grad.cpu() for n, p in model.named_parameters()},
                        comm.stats().all_reduce_calls)


# How check_setup names each setting in its message; each entry point passes its own spelling.
NAMES = {"heads": "n_head", "layers": "n_layer", "tp": "tp", "pp": "pp", "batch": "batch",
         "microbatches": "microbatches"}


def check_setup(config: GPTConfig, tp: int, pp: int, batch: int, microbatches: int = 1,
                world_size: int | None = None, names: dict[str, str] = NAMES) -> None:
    """The one check that a tp x pp mesh can run this model: UsageError (one line) naming the
    setting as the entry point calls it (``names``). Entry points call it before any rank starts
    (the CLI, the panel, ``compare_tp_pp``, ``mesh_gradients_match``); the jobs and
    ``init_parallel_groups`` trust it. ``world_size``: the ranks the mesh must cover exactly."""
    tp, pp = check_int(names["tp"], tp, 1), check_int(names["pp"], pp, 1)
    if config.n_head % tp:
        raise UsageError(_("{heads}={n_head} must be divisible by {tp}={tp_value} (TP splits heads across "
                           "ranks)").format(heads=names["heads"], n_head=config.n_head, tp=names["tp"],
                                            tp_value=tp))
    if pp > config.n_layer:
        raise UsageError(_("{layers} must be >= {pp}={pp_value}: a pipeline needs a layer per stage "
                           "(got {n_layer})").format(layers=names["layers"], pp=names["pp"], pp_value=pp,
                                                     n_layer=config.n_layer))
    m = check_int(names["microbatches"], microbatches, 1, batch)
    if batch % m:
        raise UsageError(_("{microbatches} must divide {batch}={batch_value} (got {m})").format(
            microbatches=names["microbatches"], batch=names["batch"], batch_value=batch, m=m))
    if world_size is not None and tp * pp != world_size:
        raise UsageError(_("{tp} x {pp} must equal the {world} ranks (got {tp_value} x {pp_value})").format(
            tp=names["tp"], pp=names["pp"], world=world_size, tp_value=tp, pp_value=pp))


def pipeline_step(stage: TPGPT, groups, x: torch.Tensor, y: torch.Tensor, microbatches: int) -> float | None:
    """GPipe fill-drain on this rank's stage; returns the loss on the last stage, else None.

    Sends are posted with isend and waited at the end: gloo completes a send only once the receiver
    posted its recv, so blocking sends could deadlock. Each micro-batch has its own tag.
    """
    m = microbatches
    prev = groups.global_rank(groups.pp_rank - 1) if not stage.first else None
    nxt = groups.global_rank(groups.pp_rank + 1) if not stage.last else None
    xs, ys = x.chunk(m), y.chunk(m)
    inputs, outputs, sends = [], [], []
    for i in range(m):                                   # fill: every micro-batch forward
        inp = xs[i] if stage.first else comm.recv_tensor(prev, tag=i).requires_grad_()
        out = stage(inp, ys[i] if stage.last else None)  # (B/m, T, C), or the loss on the last stage
        if not stage.last:
            sends.append(comm.isend_tensor(out, nxt, tag=i))
        inputs.append(inp)
        outputs.append(out)
    loss = 0.0
    for i in range(m):                                   # drain: every micro-batch backward
        if stage.last:
            (outputs[i] / m).backward()                  # mean over micro-batches = full-batch mean
            loss += outputs[i].item() / m
        else:
            outputs[i].backward(comm.recv_tensor(nxt, tag=m + i))
        if not stage.first:
            sends.append(comm.isend_tensor(inputs[i].grad, prev, tag=m + i))
    for s in sends:
        s.wait()
    return loss if stage.last else None


def mesh_step_job(config: GPTConfig, tp: int, pp: int, batch: int = 8, seq: int = 64, microbatches: int = 1,
                  latency_ms: float = 0.0, bandwidth_gbps: float = math.inf, repeats: int = 3,
                  return_grads: bool = False, data_seed: int = 0) -> MeshRankReport:
    """``repeats`` measured steps (after one warm-up) of a tp x pp mesh; counters of this rank per step.
    The mesh was checked by the caller (``check_setup``, before the ranks started)."""
    groups = init_parallel_groups(tp, pp)
    start, end = uniform_bounds(config.n_layer, pp)[groups.pp_rank]
    stage = TPGPT(GPT(config), groups.tp_group, start, end, first=groups.pp_rank == 0,
                  last=groups.pp_rank == pp - 1).to(worker.device())
    x, y = (t.to(worker.device()) for t in get_batch(batch, seq, data_seed))
    steps = []
    comm.set_link_model(latency_ms, bandwidth_gbps)
    try:
        for i in range(repeats + 1):                     # step 0 warms up allocator and first calls
            stage.zero_grad(set_to_none=True)
            comm.barrier()
            comm.reset_stats()
            meter = SavedTensorMeter(exclude=stage.parameters())  # the executor's measurement too
            t0 = worker.clock()
            with meter:
                loss = pipeline_step(stage, groups, x, y, microbatches)
            t1 = worker.clock()
            s = comm.stats()
            if i:
                steps.append(MeshStep(t0, t1, loss, s.all_reduce_calls, s.all_reduce_bytes, s.messages_sent, s.bytes_sent,
                                      s.wait_s + s.link_delay_s, s.link_delay_s, meter.peak_bytes))
    finally:
        comm.set_link_model()
    return MeshRankReport(worker.rank(), groups.tp_rank, groups.pp_rank, steps,
                          sum(p.numel() * p.element_size() for p in stage.parameters()),
                          {n: p.grad.cpu() for n, p in stage.named_parameters()} if return_grads else None)


def reference_step_job(config: GPTConfig, batch: int = 8, seq: int = 64, repeats: int = 3) -> float | None:
    """Rank 0 times forward+backward of the whole model alone (the compute the mesh splits)."""
    if worker.rank() != 0:
        return None
    model = GPT(config).to(worker.device())
    x, y = (t.to(worker.device()) for t in get_batch(batch, seq))
    best = math.inf
    for i in range(repeats + 1):
        t0 = worker.clock()
        model(x, y)[1].backward()
        if i:
            best = min(best, worker.clock() - t0)
    return best
