"""What one rank does in one training step: run its actions in order, picotron-style.

    for action in my_actions:            # e.g. F0 F1 F2 B0 F3 B1 B2 B3 on GPU 1 (1F1B, p=4, m=4)
        F: x = recv from previous stage (or read the batch); y = stage(x); isend y to the next stage
        B: g = recv from next stage (or start from the loss); backward; isend x.grad to the previous
        W: (zero bubble only) the weight-gradient half of backward, which nobody waits for

Sends are asynchronous (handles are waited at the end of the step), receives block: that is
exactly the execution model the validator and the simulator assume, so a schedule they accept
cannot deadlock here. Every action is timed on the shared clock and returned to the driver.

Two workloads share this loop: ``model`` runs the tiny GPT for real (autograd, gradients that are
checked against a single-process model), ``timed`` waits a fixed t_f / t_b / t_w like a GPU kernel
(the host idles) while real activation tensors still travel, so bubbles are measurable on 2 cores.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import torch

from ppedu.runtime import cluster, comm
from ppedu.schedules.actions import Action, Schedule, build_schedule

_MAX_MB = 1024  # tags encode (stage, micro-batch, direction)


def _tag(producer_stage: int, mb: int, backward: bool) -> int:
    return (producer_stage * _MAX_MB + mb) * 2 + int(backward)


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
    from ppedu.model.corpus import get_batch
    from ppedu.model.gpt import set_recompute, split_into_stages
    schedule = build_schedule(cfg.schedule, cfg.p, cfg.m, cfg.v)
    state = RankState(cfg, schedule)
    if cfg.workload == "model":
        config = cfg.model_config()
        modules = [set_recompute(mod, cfg.recompute) for mod in split_into_stages(config, cfg.stage_boundaries())]
        r = cluster.rank()
        state.stages = {s: modules[s].to(cluster.device()) for s in range(schedule.num_stages)
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
        self.rank, self.p = cluster.rank(), self.schedule.p
        self.last_stage = self.schedule.num_stages - 1
        self.held: dict[tuple[int, int], dict] = {}     # (stage, mb) -> tensors kept for backward
        self.sends: list = []
        self.posted: dict[int, comm.RecvHandle] = {}    # tag -> receive posted at step start
        self.local: dict[int, torch.Tensor] = {}        # messages to a stage on this same rank
        self.events: list[tuple] = []                  # (kind, mb, chunk, start, end)
        self.held_bytes = self.peak_bytes = 0
        self.loss = 0.0

    # -- messages --------------------------------------------------------------------------------
    def _send(self, t: torch.Tensor, to_stage: int, tag: int) -> None:
        dst = self.schedule.place_of(to_stage)[0]
        if dst == self.rank:
            self.local[tag] = t.detach()
        else:
            self.sends.append(comm.isend_tensor(t, dst, tag))

    def post_receives(self, actions: list[Action]) -> None:
        """Post every receive of the step up front (shapes are known), in the order they will be
        consumed, so messages land while this rank computes instead of when it asks for them."""
        for a in actions:
            s = self.schedule.stage_of(self.rank, a.chunk)
            if a.kind == "F" and s > 0:
                self._post(s - 1, _tag(s - 1, a.mb, False))
            elif a.kind == "B" and s < self.last_stage:
                self._post(s + 1, _tag(s + 1, a.mb, True))

    def _post(self, from_stage: int, tag: int) -> None:
        src = self.schedule.place_of(from_stage)[0]
        if src != self.rank:
            self.posted[tag] = comm.irecv_tensor(src, tag, shape=self.cfg.activation_shape())

    def _recv(self, from_stage: int, tag: int, mb: int, chunk: int) -> torch.Tensor:
        if tag in self.local:
            return self.local.pop(tag)
        start = cluster.clock()
        t = self.posted.pop(tag).wait()
        self.events.append(("recv", mb, chunk, start, cluster.clock()))
        return t

    # -- compute ---------------------------------------------------------------------------------
    def _timed(self, ms: float) -> None:
        time.sleep(ms / 1e3 / self.schedule.v)  # a chunk is 1/v of the rank's share of the model

    def _record(self, kind: str, action: Action, start: float) -> None:
        if cluster.device().type == "cuda":
            torch.cuda.synchronize()
        self.events.append((kind, action.mb, action.chunk, start, cluster.clock()))

    def _hold(self, key, entry: dict, nbytes: int) -> None:
        entry["bytes"] = nbytes
        self.held[key] = entry
        self.held_bytes += nbytes
        self.peak_bytes = max(self.peak_bytes, self.held_bytes)

    def _release(self, key) -> None:
        self.held_bytes -= self.held.pop(key)["bytes"]

    def forward(self, a: Action) -> None:
        s = self.schedule.stage_of(self.rank, a.chunk)
        if s == 0:
            inp = self.state.batch[0][a.mb].to(cluster.device()) if self.cfg.workload == "model" \
                else torch.zeros(self.cfg.activation_shape(), device=cluster.device())
        else:
            inp = self._recv(s - 1, _tag(s - 1, a.mb, False), a.mb, a.chunk)
        start = cluster.clock()
        if self.cfg.workload == "timed":
            self._timed(self.cfg.tf_ms)
            out, saved = inp.clone(), inp.numel() * inp.element_size()
        else:
            if s > 0:
                inp.requires_grad_(True)
            target = self.state.batch[1][a.mb].to(cluster.device()) if s == self.last_stage else None
            out = self.state.stages[s](inp, target)  # what it saves is measured by step_job's meter
            saved = 0
            if s == self.last_stage:
                self.loss += float(out.detach()) / self.cfg.m
                out = out / self.cfg.m  # gradient accumulation: the step's loss is the mean
        self._record("F", a, start)
        self._hold((s, a.mb), {"inp": inp, "out": out}, saved)
        if s < self.last_stage:
            self._send(out, s + 1, _tag(s, a.mb, False))

    def backward(self, a: Action) -> None:
        s = self.schedule.stage_of(self.rank, a.chunk)
        grad = None if s == self.last_stage else self._recv(s + 1, _tag(s + 1, a.mb, True), a.mb, a.chunk)
        entry = self.held[(s, a.mb)]
        start = cluster.clock()
        split = self.schedule.split_backward
        if self.cfg.workload == "timed":
            self._timed(self.cfg.tb_ms if split else self.cfg.tb_ms + self.cfg.tw_ms)
            grad_in = entry["inp"] if s > 0 else None
        elif split:  # input gradient only; the weight gradient waits for W
            grad_in = None
            if s > 0:
                (grad_in,) = torch.autograd.grad(entry["out"], entry["inp"], grad, retain_graph=True)
            entry["grad"] = grad
        else:
            torch.autograd.backward(entry["out"], grad)
            grad_in = entry["inp"].grad if s > 0 else None
        self._record("B", a, start)
        if s > 0:
            self._send(grad_in, s - 1, _tag(s, a.mb, True))
        if not split:
            self._release((s, a.mb))

    def weight_grad(self, a: Action) -> None:
        s = self.schedule.stage_of(self.rank, a.chunk)
        entry = self.held[(s, a.mb)]
        start = cluster.clock()
        if self.cfg.workload == "timed":
            self._timed(self.cfg.tw_ms)
        else:
            params = [q for q in self.state.stages[s].parameters() if q.requires_grad]
            torch.autograd.backward(entry["out"], entry.get("grad"), inputs=params)
        self._record("W", a, start)
        self._release((s, a.mb))

    def run(self, actions: list[Action]) -> None:
        do = {"F": self.forward, "B": self.backward, "W": self.weight_grad}
        self.post_receives(actions)
        for action in actions:
            cluster.set_status(f"step: {action}")
            do[action.kind](action)
        for handle in self.sends:
            handle.wait()


def hop_latency_s(rounds: int = 8) -> float:
    """Median one-way time of a small message between ranks 0 and 1 (0 with one rank): the
    latency every pipeline hop pays on this machine, which the simulator is told about."""
    if cluster.world_size() < 2 or cluster.rank() > 1:
        return 0.0
    peer, times = 1 - cluster.rank(), []
    probe = torch.zeros(16, device=cluster.device())
    tag = 1 << 30
    for _ in range(rounds):  # receives posted before they are needed, as the executor does
        incoming = comm.irecv_tensor(peer, tag, shape=probe.shape)
        start = cluster.clock()
        if cluster.rank() == 0:
            comm.isend_tensor(probe, peer, tag).wait()
            incoming.wait()
        else:
            incoming.wait()
            comm.isend_tensor(probe, peer, tag).wait()
        times.append((cluster.clock() - start) / 2)
    return sorted(times)[len(times) // 2]


def step_job(cfg, step: int) -> dict:
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
    t0 = cluster.clock()
    with meter:
        runner.run(state.schedule.ranks[cluster.rank()])
    t_end = cluster.clock()
    peak, method = _peak_activations(state, runner, meter)
    grads = {}
    if cfg.check_grads and step == 0:
        grads = {name: q.grad.detach().cpu().clone() for mod in state.stages.values()
                 for name, q in mod.named_parameters() if q.grad is not None}
    if state.optimizer is not None:
        state.optimizer.step()
    comm.set_link_model()
    return {"rank": cluster.rank(), "t0": t0, "t_end": t_end, "events": runner.events,
            "loss": runner.loss if state.schedule.place_of(runner.last_stage)[0] == cluster.rank()
            else None, "peak_activation_bytes": peak, "activation_memory_method": method, "grads": grads,
            "stats": comm.stats(), "hop_latency_s": hop}


def _meter(state: RankState, step: int):
    """Step 0 is the measurement step on CPU (saved-tensor hooks slow a step); CUDA's allocator
    statistics are free, so a GPU measures every step. The timed workload has no autograd."""
    if state.cfg.workload != "model":
        return contextlib.nullcontext()
    from ppedu.model.memory import activation_meter
    params = [q for mod in state.stages.values() for q in mod.parameters()]
    return activation_meter(cluster.device(), params, measure=step == 0)


def _peak_activations(state: RankState, runner: StepRunner, meter) -> tuple[int, str]:
    """(peak activation bytes of this step, how it was measured): see ppedu.model.memory."""
    if state.cfg.workload != "model":
        return runner.peak_bytes, "held_tensors"   # bytes of the activation tensors held, counted
    if isinstance(meter, contextlib.nullcontext):
        return state.activation_bytes, "saved_tensor_hooks"   # measured on step 0, same shapes
    state.activation_bytes = meter.peak_bytes
    return meter.peak_bytes, meter.method
