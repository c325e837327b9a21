"""Run a pipeline schedule on real ranks, measure its bubble, and prove its gradients.

    result = train(TrainConfig(schedule="1f1b", p=4, m=8, workload="timed", tf_ms=20, tb_ms=20))
    result.measured_bubble_fraction     # from the timeline the ranks recorded
    result.theory_bubble_fraction       # (p-1)/(m+p-1) for GPipe and 1F1B
    result.simulated_bubble_fraction    # the simulator, fed the same costs

The ranks do the work (``ppedu.training.executor``); this module is the driver: it validates the
configuration, runs one cluster job per step (so long runs can report progress), merges the
per-rank events into one ``Timeline``, asks theory and the simulator for their predictions, and,
with ``check_grads``, compares the gradients with a single-process model on the same batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable

from ppedu.training import executor
from ppedu.training.calibration import (Calibration, breakdown, calibrate, calibrated_costs,
                                        replay_median)
from ppedu.errors import UsageError, check_choice, check_float, check_int
from ppedu.schedules.actions import SCHEDULE_NAMES, build_schedule
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.schedules.theory import theory_bubble
from ppedu.schedules.timeline import Event, Timeline

WORKLOADS = ("timed", "model")
PARTITIONS = ("uniform", "balanced", "memory")
RECOMPUTE = ("none", "selective", "full")   # ppedu.model.gpt.RECOMPUTE (imported lazily: torch)


@dataclass
class TrainConfig:
    """One training run. Times are per rank's whole share of the model, in milliseconds."""
    schedule: str = "1f1b"
    p: int = 4
    m: int = 4
    v: int = 1
    workload: str = "timed"
    tf_ms: float = 20.0
    tb_ms: float = 20.0
    tw_ms: float = 0.0            # zero bubble's W; other schedules run B for tb_ms + tw_ms
    steps: int = 1
    partition: str = "uniform"
    latency_ms: float = 0.0
    bandwidth_gbps: float = math.inf
    check_grads: bool = False
    micro_batch_size: int = 2
    seq_len: int = 32
    n_layer: int | None = None    # default: one block per virtual stage, at least 4
    n_embd: int = 64
    n_head: int = 4
    vocab_size: int | None = None # default: the shipped corpus's; larger = a heavier head on the last stage
    lr: float = 0.1
    seed: int = 0
    recompute: str = "none"       # activation recomputation: none, selective (attention core), full
    boundaries: list | None = None  # layer range per virtual stage; set by train() from `partition`
    stage_scale: list | None = None  # timed, v=1: rank r waits stage_scale[r] x t_f, t_b, t_w (unbalanced)

    def __post_init__(self):
        check_choice("schedule", self.schedule, SCHEDULE_NAMES)
        check_choice("workload", self.workload, WORKLOADS)
        check_choice("partition", self.partition, PARTITIONS)
        check_choice("recompute", self.recompute, RECOMPUTE)
        if self.recompute != "none" and self.workload != "model":
            raise UsageError(f"recompute={self.recompute!r} needs workload='model' (the timed "
                             "workload has no activations to recompute)")
        self.p, self.m, self.v = check_int("p", self.p, 1, 16), check_int("m", self.m, 1, 256), \
            check_int("v", self.v, 1, 8)
        # schedule-specific rules (torch's rounds, DualPipeV's m >= 2p); ZB-V fixes v = 2
        self.v = build_schedule(self.schedule, self.p, self.m, self.v).v
        for name in ("tf_ms", "tb_ms", "tw_ms"):
            setattr(self, name, check_float(name, getattr(self, name), 0.0, 10_000.0))
        self.latency_ms = check_float("latency_ms", self.latency_ms, 0.0, 10_000.0)
        self.bandwidth_gbps = check_float("bandwidth_gbps", self.bandwidth_gbps, 1e-6)
        self.steps = check_int("steps", self.steps, 1, 10_000)
        self.micro_batch_size = check_int("micro_batch_size", self.micro_batch_size, 1, 1024)
        self.seq_len = check_int("seq_len", self.seq_len, 1, 256)
        stages = self.p * self.v
        if self.n_layer is None:
            self.n_layer = max(4, stages)
        self.n_layer = check_int("n_layer", self.n_layer, stages, 64) if self.workload == "model" \
            else check_int("n_layer", self.n_layer, 1, 64)
        self._check_stage_scale()

    def _check_stage_scale(self) -> None:
        """An unbalanced timed pipeline: one factor per rank on its t_f, t_b and t_w."""
        if self.stage_scale is None:
            return
        if self.workload != "timed" or self.v != 1:
            raise UsageError(f"stage_scale needs workload='timed' and v=1 (got {self.workload!r}, v={self.v})")
        if len(self.stage_scale) != self.p:
            raise UsageError(f"stage_scale must hold p={self.p} factors (got {len(self.stage_scale)})")
        self.stage_scale = [check_float("stage_scale", x, 0.01, 100.0) for x in self.stage_scale]

    def model_config(self):
        from ppedu.model.gpt import GPTConfig
        vocab = {} if self.vocab_size is None else {"vocab_size": self.vocab_size}
        return GPTConfig(block_size=max(64, self.seq_len), n_layer=self.n_layer, n_head=self.n_head,
                         n_embd=self.n_embd, seed=self.seed, **vocab)

    def stage_boundaries(self) -> list:
        """Layer ranges per virtual stage. Computed once on the driver (``balanced`` measures
        layer times, and every rank must agree on the split), uniform if never computed."""
        if self.boundaries is None:
            from ppedu.model.partition import partition
            self.boundaries = partition(self.model_config(), self.p * self.v, "uniform").boundaries
        return [tuple(b) for b in self.boundaries]

    def activation_shape(self) -> tuple[int, int, int]:
        """What travels between stages: (micro-batch, sequence, hidden), float32."""
        return (self.micro_batch_size, self.seq_len, self.n_embd)

    def cost_model(self) -> CostModel:
        nbytes = 4 * math.prod(self.activation_shape())
        scale = self.stage_scale

        def per_rank(ms: float):      # one number, or one per rank for an unbalanced pipeline
            return ms / 1e3 if scale is None else [ms / 1e3 * f for f in scale]
        return CostModel(t_f=per_rank(self.tf_ms), t_b=per_rank(self.tb_ms), t_w=per_rank(self.tw_ms),
                         latency_s=self.latency_ms / 1e3, bandwidth_Bps=self.bandwidth_gbps * 1e9,
                         message_bytes=nbytes)


@dataclass
class TrainResult:
    """What a run measured, beside what theory and the simulator predicted."""
    config: TrainConfig
    timeline: Timeline                 # the last step, as recorded by the ranks (seconds from 0)
    simulated: Timeline                # the simulator's timeline for the same costs
    measured_bubble_fraction: float
    theory_bubble_fraction: float | None
    simulated_bubble_fraction: float
    simulated_makespan_s: float
    step_time_s: float                 # mean over steps
    step_times_s: list[float]
    per_rank: list[dict]
    losses: list[float]
    grad_max_abs_diff: float | None = None
    hop_latency_s: float = 0.0         # measured per-message latency, added to the simulator's
    wall_times_s: list[float] = field(default_factory=list)  # barrier to last rank done, per step
    gradients: dict = field(default_factory=dict)            # step-0 gradients (check_grads)
    partition: object = None           # ppedu.model.partition.Partition used (model workload)
    oversubscribed: bool = False
    notes: list[str] = field(default_factory=list)
    activation_memory_method: str = ""   # cuda_allocator, saved_tensor_hooks or held_tensors
    calibration: Calibration | None = None  # means the simulator was fed (ppedu.training.calibration)
    breakdown: list[dict] = field(default_factory=list)  # last step, per rank: compute/overhead/messages/bubble
    simulation_error: float = 0.0      # simulated / measured step - 1: model: median of per-step replays
    step_bubble_fractions: list[float] = field(default_factory=list)  # measured, one per step

    @property
    def fastest_step_bubble_fraction(self) -> float:
        """The measured bubble of the fastest step: what a timed-workload check should judge, since
        a busy CPU only ever adds delay to a timed wait (like timeit taking the minimum)."""
        steps = range(len(self.step_bubble_fractions))
        best = min(steps, key=self.step_times_s.__getitem__, default=None)
        return self.measured_bubble_fraction if best is None else self.step_bubble_fractions[best]

    def summary(self) -> dict:
        """The JSON-friendly part (what ``ppedu train --json`` prints)."""
        c = self.config
        out = {"schedule": c.schedule, "p": c.p, "m": c.m, "v": c.v, "workload": c.workload,
               "measured_bubble_fraction": self.measured_bubble_fraction,
               "theory_bubble_fraction": self.theory_bubble_fraction,
               "simulated_bubble_fraction": self.simulated_bubble_fraction,
               "simulated_makespan_s": self.simulated_makespan_s, "step_time_s": self.step_time_s,
               "step_times_s": self.step_times_s, "step_bubble_fractions": self.step_bubble_fractions,
               "per_rank": self.per_rank, "losses": self.losses,
               "hop_latency_s": self.hop_latency_s,
               "stage_costs": self.partition.stage_costs if self.partition is not None else None,
               "oversubscribed": self.oversubscribed, "notes": self.notes,
               "activation_memory_method": self.activation_memory_method,
               "breakdown": self.breakdown, "simulation_error": self.simulation_error,
               "calibration": self.calibration.to_dict() if self.calibration else None,
               "config": {k: v for k, v in asdict(c).items() if not isinstance(v, float) or math.isfinite(v)}}
        if self.grad_max_abs_diff is not None:
            out["grad_max_abs_diff"] = self.grad_max_abs_diff
        return out


def train(cfg: TrainConfig | None = None, group=None,
          progress: Callable[[int, int], None] | None = None, **overrides) -> TrainResult:
    """Run ``cfg.steps`` steps of ``cfg.schedule`` on ``group`` (default: a warm cluster of p ranks)."""
    cfg = TrainConfig(**{**(asdict(cfg) if cfg else {}), **overrides})
    stage_costs = None
    if cfg.workload == "model" and cfg.boundaries is None:
        from ppedu.model.partition import partition
        parts = partition(cfg.model_config(), cfg.p * cfg.v, cfg.partition,
                          batch_size=cfg.micro_batch_size, seq_len=cfg.seq_len)
        cfg.boundaries, stage_costs = [list(b) for b in parts.boundaries], parts
    if group is None:
        from ppedu.runtime.cluster import connect
        group = connect(cfg.p)
    if group.world_size != cfg.p:
        from ppedu.errors import UsageError
        raise UsageError(f"p={cfg.p} must equal the cluster's world size {group.world_size}")
    outs = []
    for step in range(cfg.steps):
        outs.append(group.run(executor.step_job, cfg, step))
        if progress:
            progress(step + 1, cfg.steps)
    result = _assemble(cfg, outs, getattr(group, "oversubscribed", False))
    if stage_costs is not None:
        result.partition = stage_costs
    return result


def _timeline(ranks: list[dict], p: int) -> Timeline:
    # Time 0 is the first compute of the step, not the barrier before it: ranks leave a barrier
    # a few ms apart on a busy CPU, and that skew is not part of the pipeline's bubble.
    t0 = min((start for r in ranks for kind, *_, start, _end in r["events"] if kind != "recv"),
             default=min(r["t0"] for r in ranks))
    events = [Event(r["rank"], kind, mb, chunk, start - t0, end - t0)
              for r in ranks for kind, mb, chunk, start, end in r["events"]]
    return Timeline(events, p)


def _assemble(cfg: TrainConfig, outs: list[list[dict]], oversubscribed: bool) -> TrainResult:
    last = outs[-1]
    timelines = [_timeline(ranks, cfg.p) for ranks in outs]
    timeline, step_times = timelines[-1], [t.makespan for t in timelines]
    schedule = executor.schedule_of(cfg)
    hop = outs[0][0]["hop_latency_s"]  # measured once: what a message costs here beyond the link model
    steady = timelines[1:] or timelines  # the first step fills caches and allocator pools
    cal = calibrate(steady, schedule, cfg.v)
    if cfg.workload == "timed":  # the costs we asked for: the simulator checks the executor
        costs = cfg.cost_model()
        costs.latency_s += hop
    else:  # real compute: the costs the ranks measured, overhead and messages included
        costs = calibrated_costs(cfg.cost_model(), cal, cfg.v, schedule.split_backward,
                                 hop + cfg.cost_model().message_time())
    sim = simulate(schedule, costs)
    per_rank = _per_rank(last, timeline)
    losses = [next(r["loss"] for r in ranks if r["loss"] is not None) for ranks in outs] \
        if cfg.workload == "model" else []
    notes = []
    if oversubscribed and cfg.workload == "model":
        notes.append(f"{cfg.p} ranks share fewer CPU cores: real-compute timings (and so this bubble) "
                     "are distorted by oversubscription; use workload='timed' to measure bubbles.")
    result = TrainResult(cfg, timeline, sim.timeline, timeline.bubble_fraction(),
                         theory_bubble(cfg.schedule, cfg.p, cfg.m, cfg.v, cfg.cost_model()),
                         sim.bubble_fraction, sim.makespan, sum(step_times) / len(step_times),
                         step_times, per_rank, losses, hop_latency_s=hop,
                         oversubscribed=oversubscribed, notes=notes)
    result.activation_memory_method = last[0]["activation_memory_method"]
    if result.activation_memory_method == "saved_tensor_hooks" and cfg.steps > 1:
        notes.append("activation memory measured with saved-tensor hooks on step 0 only")
    result.step_bubble_fractions = [t.bubble_fraction() for t in timelines]
    result.wall_times_s = [max(r["t_end"] for r in ranks) - min(r["t0"] for r in ranks) for ranks in outs]
    result.calibration, result.breakdown = cal, breakdown(timeline, cal)
    if cfg.workload == "model":
        cpu = [[r["cpu_s"] for r in ranks] for ranks in outs[1:] or outs]  # aligned with steady
        result.simulation_error, cal.effective_cores = replay_median(
            steady, schedule, cfg.cost_model(), hop + cfg.cost_model().message_time(), cpu)
    else:
        measured = sum(t.makespan for t in steady) / len(steady)
        result.simulation_error = sim.makespan / measured - 1 if measured > 0 else 0.0
    if cfg.check_grads and cfg.workload == "model":
        result.gradients = {name: g for r in outs[0] for name, g in r["grads"].items()}
        result.grad_max_abs_diff = _grad_diff(cfg, result.gradients)
    return result


def _per_rank(last: list[dict], timeline: Timeline) -> list[dict]:
    """The last step's counters per rank: busy/idle, measured activations, messages."""
    rows = []
    for r in last:
        sent = r["stats"]["sent"]
        rows.append({"rank": r["rank"], "busy_s": timeline.busy(r["rank"]), "idle_s": timeline.idle(r["rank"]),
                     "peak_activation_bytes": r["peak_activation_bytes"],
                     "activation_memory_method": r["activation_memory_method"],
                     "peak_inflight_microbatches": timeline.peak_inflight(r["rank"]),
                     "bytes_sent": sum(v["bytes"] for v in sent.values()),
                     "messages_sent": sum(v["messages"] for v in sent.values()),
                     "comm_wait_s": r["stats"]["wait_s"]})
    return rows


def reference_gradients(cfg: TrainConfig) -> tuple[float, dict]:
    """Loss and gradients of the single-process model on the same batch (the ground truth)."""
    from ppedu.model.corpus import get_batch
    from ppedu.model.gpt import GPT
    model = GPT(cfg.model_config())
    x, y = get_batch(cfg.m * cfg.micro_batch_size, cfg.seq_len, seed=cfg.seed)
    _, loss = model(x, y)
    loss.backward()
    return float(loss.detach()), {n: q.grad for n, q in model.named_parameters() if q.grad is not None}


def _grad_diff(cfg: TrainConfig, got: dict) -> float:
    _, ref = reference_gradients(cfg)
    if set(got) != set(ref):
        missing = sorted(set(ref) ^ set(got))[:3]
        raise AssertionError(f"pipeline and reference disagree on which parameters have gradients: {missing}")
    return max(float((got[n] - ref[n]).abs().max()) for n in ref)
