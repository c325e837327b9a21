"""What one rank does in one training step: run its actions in order, picotron-style.

    for action in my_actions:            # e.g. F0 F1 F2 B0 F3 B1 B2 B3 on GPU 1 (1F1B, p=4, m=4)
        F: x = recv from previous stage (or read the batch); y = stage(x); isend y to the next stage
        B: g = recv from next stage (or start from the loss); backward; isend x.grad to the previous
        W: (zero bubble only) the weight-gradient half of backward, which nobody waits for
        O: (DualPipeV) an F and a B issued together: both inputs first, then both

Sends are asynchronous (handles are waited at the end of the step), receives block: that is
exactly the execution model the validator and the simulator assume, so a schedule they accept
cannot deadlock here. Every action is timed on the shared clock and returned to the driver.

Which rank a message goes to is the schedule's business (``Schedule.neighbours``: Megatron's
loop or ZB-V's V placement). Two workloads share this loop (``ppedu.training.stages``): ``model``
runs the tiny GPT for real (autograd, gradients checked against a single-process model),
``timed`` waits a fixed t_f / t_b / t_w like a GPU kernel while real activation tensors still
travel, so bubbles are measurable on 2 cores. A rank that fails says where in its schedule.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import torch

from ppedu.model.corpus import get_batch
from ppedu.model.gpt import set_recompute, split_into_stages
from ppedu.model.memory import activation_meter
from ppedu.runtime import comm, worker
from ppedu.runtime.comm import CommStats
from ppedu.schedules.actions import Action, Schedule
from ppedu.training.stages import ModelStage, TimedStage


@dataclass
class RankReport:
    """What one rank returns from one step (picklable: it crosses the process boundary)."""
    rank: int
    t0: float                        # the step's start and end on the shared clock
    t_end: float
    events: list[tuple]              # (kind, mb, chunk, start, end), kind F/B/W or recv
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
    cfg: object                      # engine.TrainConfig
    schedule: Schedule
    stages: dict[int, torch.nn.Module] = field(default_factory=dict)   # virtual stage -> module
    optimizer: torch.optim.Optimizer | None = None
    batch: tuple | None = None       # (x, y) micro-batches, model workload
    activation_bytes: int = 0        # measured peak (model workload, CPU: the measurement step's)


_STATE: dict[str, RankState] = {}


def _build_state(cfg) -> RankState:
    schedule = cfg.built_schedule   # built once, on the driver, and shipped with the config
    state = RankState(cfg, schedule)
    if cfg.workload == "model":
        config = cfg.model_config()
        modules = [set_recompute(mod, cfg.recompute) for mod in split_into_stages(config, cfg.stage_boundaries())]
        r = worker.rank()
        state.stages = {s: modules[s].to(worker.device()) for s in range(schedule.num_stages)
                        if schedule.place_of(s)[0] == r}
        params = [q for mod in state.stages.values() for q in mod.parameters()]
        state.optimizer = torch.optim.SGD(params, lr=cfg.lr) if params else None
        x, y = get_batch(cfg.m * cfg.micro_batch_size, cfg.seq_len, seed=cfg.seed)
        state.batch = (x.chunk(cfg.m), y.chunk(cfg.m))
    return state


class StepRunner:
    """Executes one rank's actions for one step and records what happened."""

    def __init__(self, state: RankState):
        self.state, self.cfg, self.schedule = state, state.cfg, state.schedule
        self.rank = worker.rank()
        self.last_stage = self.schedule.num_stages - 1
        self.split = self.schedule.weight_split(self.rank)  # (chunk, mb) with a separate W
        self.work = TimedStage(self.cfg, self.schedule.v) if self.cfg.workload == "timed" else \
            ModelStage(self.cfg, state.stages, state.batch, self.last_stage)
        self.held: dict[tuple[int, int], dict] = {}     # (stage, mb) -> tensors kept for backward
        self.sends: list = []
        self.posted: dict[int, comm.RecvHandle] = {}    # tag -> receive posted at step start
        self.local: dict[int, torch.Tensor] = {}        # messages to a stage on this same rank
        self.events: list[tuple] = []                  # (kind, mb, chunk, start, end)
        self.held_bytes = self.peak_bytes = 0
        self.cpu_s = 0.0    # CPU seconds this rank's thread got from its first action to its last
        # Both ends know a boundary's shape, so the header only carries the send time that an
        # emulated link needs; without one a message is one gloo send instead of two.
        self.header = comm.link_emulated()

    @property
    def loss(self) -> float:
        return getattr(self.work, "loss", 0.0)

    # -- messages --------------------------------------------------------------------------------
    def _send(self, t: torch.Tensor, dst: int, tag: int) -> None:
        if dst == self.rank:  # the next stage lives here too (a V turns on the last rank)
            self.local[tag] = t.detach()
        else:
            self.sends.append(comm.isend_tensor(t, dst, tag, header=self.header))

    def post_receives(self, actions: list[Action]) -> None:
        """Post every receive of the step up front (shapes are known), in the order they will be
        consumed, so messages land while this rank computes instead of when it asks for them."""
        shape = self.cfg.activation_shape()
        for a in (u for action in actions for u in action.units):
            s, (before, after) = self.schedule.stage_of(self.rank, a.chunk), \
                self.schedule.neighbours(self.rank, a.chunk)
            if a.kind == "F" and before not in (None, self.rank):
                tag = comm.pipeline_tag(s - 1, a.mb, False)
                self.posted[tag] = comm.irecv_tensor(before, tag, shape, header=self.header)
            elif a.kind == "B" and after not in (None, self.rank):
                tag = comm.pipeline_tag(s + 1, a.mb, True)
                self.posted[tag] = comm.irecv_tensor(after, tag, shape, header=self.header)

    def _recv(self, tag: int, mb: int, chunk: int) -> torch.Tensor:
        if tag in self.local:
            return self.local.pop(tag)
        start = worker.clock()
        t = self.posted.pop(tag).wait()
        self.events.append(("recv", mb, chunk, start, worker.clock()))
        return t

    # -- compute ---------------------------------------------------------------------------------
    def _record(self, kind: str, action: Action, start: float) -> None:
        if worker.device().type == "cuda":
            torch.cuda.synchronize()
        self.events.append((kind, action.mb, action.chunk, start, worker.clock()))

    def _hold(self, key, entry: dict, nbytes: int) -> None:
        entry["bytes"] = nbytes
        self.held[key] = entry
        self.held_bytes += nbytes
        self.peak_bytes = max(self.peak_bytes, self.held_bytes)

    def _release(self, key) -> None:
        self.held_bytes -= self.held.pop(key)["bytes"]

    def forward(self, a: Action, inp: torch.Tensor) -> None:
        s, (_, after) = self.schedule.stage_of(self.rank, a.chunk), \
            self.schedule.neighbours(self.rank, a.chunk)
        start = worker.clock()
        out, saved = self.work.forward(s, a.mb, inp)
        self._record("F", a, start)
        self._hold((s, a.mb), {"inp": inp, "out": out}, saved)
        if after is not None:
            self._send(out, after, comm.pipeline_tag(s, a.mb, False))

    def backward(self, a: Action, grad: torch.Tensor | None) -> None:
        s, (before, _) = self.schedule.stage_of(self.rank, a.chunk), \
            self.schedule.neighbours(self.rank, a.chunk)
        split = (a.chunk, a.mb) in self.split
        start = worker.clock()
        grad_in = self.work.backward(s, self.held[(s, a.mb)], grad, split)
        self._record("B", a, start)
        if before is not None:
            self._send(grad_in, before, comm.pipeline_tag(s, a.mb, True))
        if not split:
            self._release((s, a.mb))

    def weight_grad(self, a: Action) -> None:
        s = self.schedule.stage_of(self.rank, a.chunk)
        start = worker.clock()
        self.work.weight(s, self.held[(s, a.mb)])
        self._record("W", a, start)
        self._release((s, a.mb))

    def input_of(self, a: Action) -> torch.Tensor | None:
        """What F or B of ``a`` starts from: the batch, the loss (None), or a message."""
        s = self.schedule.stage_of(self.rank, a.chunk)
        if a.kind == "F":
            return self.work.first_input(a.mb, worker.device()) if s == 0 else \
                self._recv(comm.pipeline_tag(s - 1, a.mb, False), a.mb, a.chunk)
        return None if s == self.last_stage else \
            self._recv(comm.pipeline_tag(s + 1, a.mb, True), a.mb, a.chunk)

    def overlapped(self, a: Action) -> None:
        """DualPipeV's pair: both inputs first, then F and B. On a GPU the two would run on two
        streams, one's compute hiding the other's communication; on a CPU they run in turn."""
        forward, backward = a.parts
        inp, grad = self.input_of(forward), self.input_of(backward)
        self.forward(forward, inp)
        self.backward(backward, grad)

    def run(self, actions: list[Action]) -> None:
        do = {"F": lambda a: self.forward(a, self.input_of(a)),
              "B": lambda a: self.backward(a, self.input_of(a)),
              "W": self.weight_grad, "O": self.overlapped}
        self.post_receives(actions)
        cpu_start = time.thread_time()  # this thread's CPU clock: what the OS actually gave us
        for index, action in enumerate(actions):
            worker.set_status(f"step: {action}")
            try:
                do[action.kind](action)
            except Exception as error:  # say where in the schedule, then the original error
                raise RuntimeError(_failed_at(self.schedule.where_it_failed(self.rank, index),
                                              error)) from error
        self.cpu_s = time.thread_time() - cpu_start
        for handle in self.sends:
            handle.wait()


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
    state = _STATE["run"]
    comm.set_link_model()
    hop = hop_latency_s() if step == 0 else 0.0  # the bare machine, before the emulated link
    comm.reset_stats()
    comm.set_link_model(cfg.latency_ms, cfg.bandwidth_gbps)
    if state.optimizer is not None:
        state.optimizer.zero_grad(set_to_none=True)
    runner = StepRunner(state)
    meter = _meter(state, step)
    comm.barrier()
    t0, cpu0 = worker.clock(), time.thread_time()
    with meter:
        runner.run(state.schedule.ranks[worker.rank()])
    t_end, step_cpu = worker.clock(), time.thread_time() - cpu0
    peak, method = _peak_activations(state, runner, meter)
    grads = {}
    if cfg.check_grads and step == 0:
        grads = {name: q.grad.detach().cpu().clone() for mod in state.stages.values()
                 for name, q in mod.named_parameters() if q.grad is not None}
    if state.optimizer is not None:
        state.optimizer.step()
    comm.set_link_model()
    holds_loss = state.schedule.place_of(runner.last_stage)[0] == worker.rank()
    return RankReport(worker.rank(), t0, t_end, runner.events, runner.loss if holds_loss else None,
                      peak, method, grads, comm.stats(), hop,
                      runner.cpu_s if worker.device().type == "cpu" else None,  # GPU: kernels elsewhere
                      step_cpu)


def _meter(state: RankState, step: int):
    """Step 0 is the measurement step on CPU (saved-tensor hooks slow a step); CUDA's allocator
    statistics are free, so a GPU measures every step. The timed workload has no autograd."""
    if state.cfg.workload != "model":
        return contextlib.nullcontext()
    params = [q for mod in state.stages.values() for q in mod.parameters()]
    return activation_meter(worker.device(), params, measure=step == 0)


def _peak_activations(state: RankState, runner: StepRunner, meter) -> tuple[int, str]:
    """(peak activation bytes of this step, how it was measured): see ppedu.model.memory."""
    if state.cfg.workload != "model":
        return runner.peak_bytes, "held_tensors"   # bytes of the activation tensors held, counted
    if isinstance(meter, contextlib.nullcontext):
        return state.activation_bytes, "saved_tensor_hooks"   # measured on step 0, same shapes
    state.activation_bytes = meter.peak_bytes
    return meter.peak_bytes, meter.method
