"""What one rank does in one training step: for each action of its schedule, call the stage.

    for action in my_actions:            # e.g. F0 F1 F2 B0 F3 B1 B2 B3 on GPU 1 (1F1B, p=4, m=4)
        F: x = recv_forward; y = forward(x); send_forward(y)
        B: g = recv_backward; g_in = backward(g); send_backward(g_in)
        W: (zero bubble only) weight: the weight-gradient half of backward, which nobody waits for
        O: (DualPipeV) an F and a B issued together: both inputs first, then both

The calls are the ``Stage``'s (``ppedu.training.stage``), the six a student's loop makes in
chapter 6; sends are asynchronous, receives block: the execution model of the validator and the
simulator, so a schedule they accept cannot deadlock here. Every action is timed on the shared
clock and returned in a ``RankReport``; a rank that fails says where in its schedule.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import torch

from ppedu.model.memory import activation_meter
from ppedu.runtime import comm, worker
from ppedu.runtime.comm import CommStats
from ppedu.schedules.actions import Action
from ppedu.schedules.timeline import Event
from ppedu.training.stage import Stage
from ppedu.training.workloads import make_work


@dataclass
class RankReport:
    """What one rank returns from one step (picklable: it crosses the process boundary)."""
    rank: int
    t0: float                        # the step's start and end on the shared clock
    t_end: float
    events: list[Event]              # F/B/W and recv, on the shared clock
    loss: float | None               # on the rank holding the last stage (model workload)
    peak_activation_bytes: int
    activation_memory_method: str    # cuda_allocator, saved_tensor_hooks or held_tensors
    grads: dict                      # step 0 with check_grads: parameter name -> gradient
    comm: CommStats
    hop_latency_s: float             # measured on step 0 (ranks 0 and 1), else 0
    cpu_s: float | None              # CPU seconds of this rank's thread over its actions (None: GPU)
    step_cpu_s: float


@dataclass
class RankState:
    """Everything a rank keeps between steps of one training run."""
    cfg: object                      # config.TrainConfig, its schedule built on the driver
    work: object                     # ppedu.training.workloads: ModelWork or TimedWork
    optimizer: torch.optim.Optimizer | None = None
    activation_bytes: int = 0        # measured peak (model workload, CPU: the measurement step's)


_STATE: dict[str, RankState] = {}


def _build_state(cfg) -> RankState:
    work = make_work(cfg, worker.rank(), worker.device())
    params = work.parameters()
    return RankState(cfg, work, torch.optim.SGD(params, lr=cfg.lr) if params else None)


def run_action(stage: Stage, a: Action) -> None:
    """One action of the schedule, as the stage's calls."""
    if a.kind == "F":
        stage.send_forward(a.mb, stage.forward(a.mb, stage.recv_forward(a.mb, a.chunk), a.chunk), a.chunk)
    elif a.kind == "B":
        stage.send_backward(a.mb, stage.backward(a.mb, stage.recv_backward(a.mb, a.chunk), a.chunk), a.chunk)
    elif a.kind == "W":
        stage.weight(a.mb, a.chunk)
    else:  # "O", DualPipeV's pair: both inputs first, then F and B (on a GPU, on two streams)
        f, b = a.parts
        x, g = stage.recv_forward(f.mb, f.chunk), stage.recv_backward(b.mb, b.chunk)
        stage.send_forward(f.mb, stage.forward(f.mb, x, f.chunk), f.chunk)
        stage.send_backward(b.mb, stage.backward(b.mb, g, b.chunk), b.chunk)


def run_actions(stage: Stage, actions: list[Action]) -> float:
    """This rank's step; returns the CPU seconds its thread got from the first action to the last."""
    stage.post_receives(actions)
    cpu_start = time.thread_time()  # this thread's CPU clock: what the OS actually gave us
    for index, action in enumerate(actions):
        worker.set_status(f"step: {action}")
        try:
            run_action(stage, action)
        except Exception as error:  # say where in the schedule, then the original error
            raise RuntimeError(_failed_at(stage.schedule.where_it_failed(stage.rank, index),
                                          error)) from error
    cpu_s = time.thread_time() - cpu_start
    stage.finish()
    return cpu_s


def _failed_at(where: str, error: BaseException) -> str:
    """``GPU0 failed at action 4 of 8 (gpipe p=2 m=4 v=1): RuntimeError: <cause>`` on the first
    line (what a status line, a panel or a ClusterError shows), then the schedule around it and
    the cause in full."""
    header, _, around = where.partition("\n")
    cause = f"{type(error).__name__}: {error}".strip()
    return f"{header.rstrip(':')}: {cause.splitlines()[0][:300]}\n{around}\n{cause}"


def hop_latency_s(rounds: int = 8) -> float:
    """Median one-way time of a small message between ranks 0 and 1 (0 with one rank): the
    latency every pipeline hop pays on this machine, which the simulator is told about."""
    if worker.world_size() < 2 or worker.rank() > 1:
        return 0.0
    peer, times = 1 - worker.rank(), []
    probe = torch.zeros(16, device=worker.device())
    tag = 1 << 30
    for _ in range(rounds):  # receives posted before they are needed, as the executor does
        incoming = comm.irecv_tensor(peer, tag, shape=probe.shape)
        start = worker.clock()
        if worker.rank() == 0:
            comm.isend_tensor(probe, peer, tag).wait()
            incoming.wait()
        else:
            incoming.wait()
            comm.isend_tensor(probe, peer, tag).wait()
        times.append((worker.clock() - start) / 2)
    return sorted(times)[len(times) // 2]


def step_job(cfg, step: int) -> RankReport:
    """One training step on this rank (a cluster job). Step 0 builds fresh weights from the seed."""
    if step == 0 or "run" not in _STATE:
        _STATE["run"] = _build_state(cfg)
    state, rank = _STATE["run"], worker.rank()
    comm.set_link_model()
    hop = hop_latency_s() if step == 0 else 0.0  # the bare machine, before the emulated link
    comm.reset_stats()
    comm.set_link_model(cfg.latency_ms, cfg.bandwidth_gbps)
    if state.optimizer is not None:
        state.optimizer.zero_grad(set_to_none=True)
    # both ends know a boundary's shape, so the header only carries the send time that an
    # emulated link needs; without one a message is one gloo send instead of two
    stage = Stage(cfg, rank, state.work, header=comm.link_emulated())
    meter = _meter(state, step)
    comm.barrier()
    t0, cpu0 = worker.clock(), time.thread_time()
    with meter:
        cpu_s = run_actions(stage, stage.schedule.ranks[rank])
    t_end, step_cpu = worker.clock(), time.thread_time() - cpu0
    peak, method = _peak_activations(state, stage, meter)
    grads = state.work.gradients() if cfg.check_grads and step == 0 else {}
    if state.optimizer is not None:
        state.optimizer.step()
    comm.set_link_model()
    return RankReport(rank, t0, t_end, stage.events, stage.loss, peak, method, grads, comm.stats(), hop,
                      cpu_s if worker.device().type == "cpu" else None,  # GPU: kernels elsewhere
                      step_cpu)


def _meter(state: RankState, step: int):
    """Step 0 is the measurement step on CPU (saved-tensor hooks slow a step); CUDA's allocator
    statistics are free, so a GPU measures every step. The timed workload has no autograd."""
    if state.cfg.workload != "model":
        return contextlib.nullcontext()
    return activation_meter(worker.device(), state.work.parameters(), measure=step == 0)


def _peak_activations(state: RankState, stage: Stage, meter) -> tuple[int, str]:
    """(peak activation bytes of this step, how it was measured): see ppedu.model.memory."""
    if state.cfg.workload != "model":
        return stage.peak_bytes, "held_tensors"   # bytes of the activation tensors held, counted
    if isinstance(meter, contextlib.nullcontext):
        return state.activation_bytes, "saved_tensor_hooks"   # measured on step 0, same shapes
    state.activation_bytes = meter.peak_bytes
    return meter.peak_bytes, meter.method
