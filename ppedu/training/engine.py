"""Run a pipeline schedule on real ranks, measure its bubble, and prove its gradients.

    result = train(TrainConfig(schedule="1f1b", p=4, m=8, workload="timed", tf_ms=20, tb_ms=20))
    result.measured_bubble_fraction     # from the timeline the ranks recorded
    result.theory_bubble_fraction       # (p-1)/(m+p-1) for GPipe and 1F1B
    result.simulated_bubble_fraction    # the last step replayed from its measured parts

The ranks do the work (``ppedu.training.executor``); this driver runs one cluster job per step of
a ``TrainConfig`` (checked, its schedule built once), merges the ranks' ``RankReport``s into one
``Timeline`` per step and explains the run. One simulation of a run, shown everywhere: each step
replayed from its own measured parts (``calibration.replays``). Beside it, theory: the closed form
and "theory (mean costs)", the simulator fed mean costs (``theory_makespan_s``). With
``check_grads`` the gradients are compared with a single-process model on the same batch.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

from ppedu.errors import UsageError
from ppedu.i18n.messages import _
from ppedu.model.gpt import GPT
from ppedu.model.partition import Partition, partition
from ppedu.runtime.cluster import connect
from ppedu.schedules.simulator import simulate
from ppedu.schedules.theory import theory_bubble
from ppedu.schedules.timeline import Timeline
from ppedu.training import executor
from ppedu.training.calibration import (Calibration, StepParts, breakdown, calibrate, calibrated_costs, median,
                                        replays)
from ppedu.training.config import TrainConfig
from ppedu.training.executor import RankReport
from ppedu.training.stage import measured_timeline


_SUMMARY = ("measured_bubble_fraction", "theory_bubble_fraction", "simulated_bubble_fraction",
            "simulated_makespan_s", "theory_makespan_s", "step_time_s", "step_times_s", "step_bubble_fractions",
            "losses", "hop_latency_s", "oversubscribed", "notes", "activation_memory_method",
            "simulation_error")   # TrainResult's fields and properties in the JSON, as they are


@dataclass
class RankCounters:
    """The last step's counters of one rank (``TrainResult.per_rank``)."""
    rank: int
    busy_s: float
    idle_s: float
    peak_activation_bytes: int
    activation_memory_method: str
    peak_inflight_microbatches: int
    bytes_sent: int
    messages_sent: int
    comm_wait_s: float


@dataclass
class TrainResult:
    """What a run measured, beside the simulation that explains it and what theory predicts.
    Built in one place, ``_assemble``, from the ranks' reports."""
    config: TrainConfig
    timeline: Timeline                 # the last step, as recorded by the ranks (seconds from 0)
    simulated: Timeline                # that step replayed from its measured parts (the simulation)
    theory_bubble_fraction: float | None   # closed form
    theory_makespan_s: float           # theory (mean costs): the simulator fed mean costs
    step_times_s: list[float]
    step_bubble_fractions: list[float]  # measured, one per step
    wall_times_s: list[float]          # barrier to last rank done, per step
    replay_errors: list[float]         # simulated / measured - 1 of each step after the first (of the one)
    per_rank: list[RankCounters]       # the last step's counters per rank
    losses: list[float]
    hop_latency_s: float               # measured per-message latency, the messages' fallback cost
    calibration: Calibration           # means the simulator was fed (ppedu.training.calibration)
    breakdown: list[StepParts]         # last step, per rank: compute/overhead/messages/bubble
    activation_memory_method: str      # cuda_allocator, saved_tensor_hooks or held_tensors
    oversubscribed: bool = False
    notes: list[str] = field(default_factory=list)
    partition: Partition | None = None  # the split used (model workload)
    gradients: dict = field(default_factory=dict)            # step-0 gradients (check_grads)
    grad_max_abs_diff: float | None = None

    @property
    def simulation_error(self) -> float:
        """The median of ``replay_errors``: how well the replay explains this run's steps."""
        return median(self.replay_errors)

    @property
    def measured_bubble_fraction(self) -> float:
        return self.step_bubble_fractions[-1]

    @property
    def simulated_bubble_fraction(self) -> float:
        return self.simulated.bubble_fraction()

    @property
    def simulated_makespan_s(self) -> float:
        return self.simulated.makespan

    @property
    def step_time_s(self) -> float:
        """The mean over steps."""
        return sum(self.step_times_s) / len(self.step_times_s)

    @property
    def fastest_step_bubble_fraction(self) -> float:
        """The measured bubble of the fastest step: what a timed-workload check should judge, since
        a busy CPU only ever adds delay to a timed wait (like timeit taking the minimum)."""
        best = min(range(len(self.step_times_s)), key=self.step_times_s.__getitem__)
        return self.step_bubble_fractions[best]

    def summary(self) -> dict:
        """The JSON-friendly part (what ``ppedu train --json`` prints)."""
        c = self.config
        out = {k: getattr(c, k) for k in ("schedule", "p", "m", "v", "workload")}
        out.update({k: getattr(self, k) for k in _SUMMARY}, per_rank=[asdict(r) for r in self.per_rank],
                   breakdown=[asdict(b) for b in self.breakdown],
                   stage_costs=self.partition.stage_costs if self.partition is not None else None,
                   calibration=asdict(self.calibration),
                   config={k: v for k, v in asdict(c).items() if not isinstance(v, float) or math.isfinite(v)})
        if self.grad_max_abs_diff is not None:
            out["grad_max_abs_diff"] = self.grad_max_abs_diff
        return out


def train(cfg: TrainConfig | None = None, group=None,
          progress: Callable[[int, int], None] | None = None, **overrides) -> TrainResult:
    """Run ``cfg.steps`` steps of ``cfg.schedule`` on ``group`` (default: a warm cluster of p ranks)."""
    cfg = replace(cfg or TrainConfig(), **overrides) if overrides or cfg is None else copy.copy(cfg)
    parts = None
    if cfg.workload == "model" and cfg.boundaries is None:
        parts = partition(cfg.model_config(), cfg.p * cfg.v, cfg.partition,
                          batch_size=cfg.micro_batch_size, seq_len=cfg.seq_len)
        cfg.boundaries = [list(b) for b in parts.boundaries]
    group = connect(cfg.p) if group is None else group
    if group.world_size != cfg.p:
        raise UsageError(_("p={p} must equal the cluster's world size {n}").format(p=cfg.p, n=group.world_size))
    outs = []
    for step in range(cfg.steps):
        outs.append(group.run(executor.step_job, cfg, step))
        if progress:
            progress(step + 1, cfg.steps)
    return _assemble(cfg, outs, getattr(group, "oversubscribed", False), parts)


def _assemble(cfg: TrainConfig, outs: list[list[RankReport]], oversubscribed: bool,
              parts: Partition | None) -> TrainResult:
    timelines = [measured_timeline(ranks, cfg.p) for ranks in outs]
    hop = outs[0][0].hop_latency_s  # measured once: what a message costs here beyond the link model
    steady = timelines[1:] or timelines  # the first step fills caches and allocator pools
    cal = calibrate(steady, cfg.built_schedule)
    runs, theory_s = _simulations(cfg, outs, steady, cal, hop)
    cal.effective_cores = median([r.cores for r in runs if r.cores is not None])
    last = outs[-1]
    method = last[0].activation_memory_method
    grads = {name: g for r in outs[0] for name, g in r.grads.items()}   # check_grads, model workload
    return TrainResult(
        config=cfg, timeline=timelines[-1],
        simulated=runs[-1].timeline if runs else Timeline([], cfg.p),
        theory_bubble_fraction=theory_bubble(cfg.schedule, cfg.p, cfg.m, cfg.v, cfg.cost_model()),
        theory_makespan_s=theory_s, step_times_s=[t.makespan for t in timelines],
        step_bubble_fractions=[t.bubble_fraction() for t in timelines],
        wall_times_s=[max(r.t_end for r in ranks) - min(r.t0 for r in ranks) for ranks in outs],
        replay_errors=[r.error for r in runs], per_rank=_per_rank(last, timelines[-1]),
        losses=[next(r.loss for r in ranks if r.loss is not None) for ranks in outs]
        if cfg.workload == "model" else [],
        hop_latency_s=hop, calibration=cal, breakdown=breakdown(timelines[-1], cal),
        activation_memory_method=method, oversubscribed=oversubscribed,
        notes=_notes(cfg, oversubscribed, method), partition=parts, gradients=grads,
        grad_max_abs_diff=_grad_diff(cfg, grads) if grads else None)


def _simulations(cfg: TrainConfig, outs: list[list[RankReport]], steady: list[Timeline],
                 cal: Calibration, hop: float) -> tuple[list, float]:
    """Each steady step replayed from its measured parts (the simulation of the run), and the
    simulator fed mean costs (theory): on the timed workload the costs we asked for, whose
    replay must agree with them; on real compute each rank's measured means."""
    schedule, base = cfg.built_schedule, cfg.cost_model()
    message = hop + base.message_time()    # a message's cost where no waited receive measured one
    if cfg.workload == "timed":   # the ranks sleep: they do not compete for cores
        mean_costs, cpu = replace(base, latency_s=base.latency_s + hop), None
    else:
        mean_costs = calibrated_costs(base, cal, schedule, message)
        cpu = [[r.cpu_s for r in ranks] for ranks in outs[1:] or outs]  # aligned with steady
    return replays(steady, schedule, base, message, cpu), simulate(schedule, mean_costs).makespan


def _notes(cfg: TrainConfig, oversubscribed: bool, method: str) -> list[str]:
    notes = []
    if oversubscribed and cfg.workload == "model":
        notes.append(_("{p} ranks share fewer CPU cores: real-compute timings (and so this bubble) are distorted "
                       "by oversubscription; use workload='timed' to measure bubbles.").format(p=cfg.p))
    if method == "saved_tensor_hooks" and cfg.steps > 1:
        notes.append(_("activation memory measured with saved-tensor hooks on step 0 only"))
    return notes


def _per_rank(last: list[RankReport], timeline: Timeline) -> list[RankCounters]:
    """The last step's counters per rank: busy/idle, measured activations, messages."""
    return [RankCounters(r.rank, timeline.busy(r.rank), timeline.idle(r.rank), r.peak_activation_bytes,
                         r.activation_memory_method, timeline.peak_inflight(r.rank), r.comm.bytes_sent,
                         r.comm.messages_sent, r.comm.wait_s) for r in last]


def reference_gradients(cfg: TrainConfig) -> tuple[float, dict]:
    """Loss and gradients of the single-process model on the same batch (the ground truth)."""
    model = GPT(cfg.model_config())
    _, loss = model(*cfg.full_batch())
    loss.backward()
    return float(loss.detach()), {n: q.grad for n, q in model.named_parameters() if q.grad is not None}


def _grad_diff(cfg: TrainConfig, got: dict) -> float:
    ref = reference_gradients(cfg)[1]
    if set(got) != set(ref):
        missing = sorted(set(ref) ^ set(got))[:3]
        raise AssertionError(_("pipeline and reference disagree on which parameters have gradients: {names}").format(
            names=missing))
    return max(float((got[n] - ref[n]).abs().max()) for n in ref)
