"""What a pipeline run is, checked once, where it is described: ``RunSpec`` and ``TrainConfig``.

``RunSpec``: what every rank needs (sizes, workload, shapes, seed; the schedule, built here once
and shipped to the ranks with the spec; ``batch()``, the one recipe of the m micro-batches that the
ranks and the single-process references share). ``TrainConfig`` and the lab's ``LabSpec`` add
their own settings, each entry point's limits on p, m, v beside their reason (``LIMITS``). No
torch at import: ``ppedu train --help`` reads its defaults and limits here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ppedu.errors import UsageError, check_choice, check_float, check_int
from ppedu.i18n.messages import _
from ppedu.model.workloads import WORKLOADS
from ppedu.planner.formulas import RECOMPUTE
from ppedu.schedules import build_schedule
from ppedu.schedules.actions import SCHEDULE_NAMES, Schedule
from ppedu.schedules.simulator import CostModel

# Real ranks: one process per rank and a real step per micro-batch, so the limits are what a
# laptop or one node runs in seconds; the simulator and the builders go further
# (ppedu.schedules.actions.MAX_P, MAX_M, MAX_V).
MAX_P, MAX_M, MAX_V = 16, 256, 8


@dataclass
class RunSpec:
    """One pipeline run as every rank sees it. Times are per rank's whole share of the model, ms."""
    schedule: str = "1f1b"
    p: int = 4
    m: int = 8
    v: int = 1
    workload: str = "timed"
    tf_ms: float = 20.0
    tb_ms: float = 20.0
    tw_ms: float = 0.0            # zero bubble's W; other schedules run B for tb_ms + tw_ms
    micro_batch_size: int = 2
    seq_len: int = 32
    n_layer: int | None = None    # default: one block per virtual stage, at least 4
    n_embd: int = 64
    n_head: int = 4
    vocab_size: int | None = None # default: the shipped corpus's; larger = a heavier head on the last stage
    seed: int = 0
    boundaries: list | None = None  # layer range per virtual stage (default uniform)
    stage_scale: list | None = None  # timed, v=1: rank r waits stage_scale[r] x t_f, t_b, t_w (unbalanced)
    recompute: str = "none"       # activation recomputation (model): none, selective (attention core), full

    LIMITS = {"p": (1, MAX_P), "m": (1, MAX_M), "v": (1, MAX_V)}   # real ranks (see MAX_P)

    def __post_init__(self):
        check_choice("schedule", self.schedule, SCHEDULE_NAMES)
        check_choice("workload", self.workload, WORKLOADS)
        check_choice("recompute", self.recompute, RECOMPUTE)
        if self.recompute != "none" and self.workload != "model":
            raise UsageError(_("recompute={recompute} needs workload='model' (the timed workload has no activations "
                               "to recompute)").format(recompute=repr(self.recompute)))
        self.p, self.m, self.v = (check_int(k, getattr(self, k), *self.LIMITS[k]) for k in ("p", "m", "v"))
        # built once per run, here: the schedule's own rules (torch's rounds, DualPipeV's m >= 2p;
        # ZB-V fixes v = 2) are checked by building it, and the ranks get this very object
        self._built = build_schedule(self.schedule, self.p, self.m, self.v)
        self.v = self._built.v
        for name in ("tf_ms", "tb_ms", "tw_ms"):
            setattr(self, name, check_float(name, getattr(self, name), 0.0, 10_000.0))
        self.micro_batch_size = check_int("micro_batch_size", self.micro_batch_size, 1, 1024)
        self.seq_len = check_int("seq_len", self.seq_len, 1, 256)
        self.n_embd = check_int("n_embd", self.n_embd, 1, 1024)
        self.n_head = check_int("n_head", self.n_head, 1, self.n_embd)
        self.seed = check_int("seed", self.seed, 0, 2**31 - 1)
        stages = self.p * self.v
        if self.n_layer is None:
            self.n_layer = max(4, stages)
        self.n_layer = check_int("n_layer", self.n_layer, stages if self.workload == "model" else 1, 64)
        self._check_stage_scale()

    def _check_stage_scale(self) -> None:
        """An unbalanced timed pipeline: one factor per rank on its t_f, t_b and t_w."""
        if self.stage_scale is None:
            return
        if self.workload != "timed" or self.v != 1:
            raise UsageError(_("stage_scale needs workload='timed' and v=1 (got {workload}, v={v})").format(
                workload=repr(self.workload), v=self.v))
        if len(self.stage_scale) != self.p:
            raise UsageError(_("stage_scale must hold p={p} factors (got {n})").format(p=self.p, n=len(self.stage_scale)))
        self.stage_scale = [check_float("stage_scale", x, 0.01, 100.0) for x in self.stage_scale]

    @property
    def built_schedule(self) -> Schedule:
        """The schedule this run executes (not a dataclass field: ``asdict`` leaves it out)."""
        s = self._built
        if (s.name, s.p, s.m, s.v) != (self.schedule, self.p, self.m, self.v):
            raise UsageError(_("a {type} is checked when it is made: change one with dataclasses.replace(spec, m=...), "
                               "not by assigning to it").format(type=type(self).__name__))
        return s

    @property
    def num_stages(self) -> int:
        return self.p * self.v

    def model_config(self):
        from ppedu.model.gpt import GPTConfig  # torch: kept out of `ppedu train --help`
        vocab = {} if self.vocab_size is None else {"vocab_size": self.vocab_size}
        return GPTConfig(block_size=max(64, self.seq_len), n_layer=self.n_layer, n_head=self.n_head,
                         n_embd=self.n_embd, seed=self.seed, **vocab)

    def stage_boundaries(self) -> list:
        """Layer ranges per virtual stage: ``boundaries`` when the driver computed them (``balanced``
        measures layer times, and every rank must agree on the split), else uniform."""
        if self.boundaries is None:
            from ppedu.model.partition import partition  # torch: kept out of `ppedu train --help`
            self.boundaries = partition(self.model_config(), self.num_stages, "uniform").boundaries
        return [tuple(b) for b in self.boundaries]

    def full_batch(self):
        """(inputs, targets) of the whole step: what a single-process reference trains on."""
        from ppedu.model.corpus import get_batch  # torch: kept out of `ppedu train --help`
        return get_batch(self.m * self.micro_batch_size, self.seq_len, seed=self.seed)

    def batch(self) -> tuple[tuple, tuple]:
        """(inputs, targets) of the m micro-batches: the same on every rank and in every reference."""
        x, y = self.full_batch()
        return x.chunk(self.m), y.chunk(self.m)

    def activation_shape(self) -> tuple[int, int, int]:
        """What travels between stages: (micro-batch, sequence, hidden), float32."""
        return (self.micro_batch_size, self.seq_len, self.n_embd)


@dataclass
class TrainConfig(RunSpec):
    """One training run (``ppedu train``, the panels): a RunSpec and how to run and measure it."""
    steps: int = 1
    partition: str = "uniform"
    latency_ms: float = 0.0
    bandwidth_gbps: float = math.inf
    check_grads: bool = False
    lr: float = 0.1

    def __post_init__(self):
        from ppedu.model.partition import METHODS  # torch: kept out of `ppedu train --help`
        check_choice("partition", self.partition, METHODS)
        self.latency_ms = check_float("latency_ms", self.latency_ms, 0.0, 10_000.0)
        self.bandwidth_gbps = check_float("bandwidth_gbps", self.bandwidth_gbps, 1e-6)
        self.steps = check_int("steps", self.steps, 1, 10_000)
        super().__post_init__()
        if self.schedule == "zb2" and self.workload == "timed":
            # ZB-H2 is ordered for its costs (ppedu.schedules.greedy); only the timed workload
            # knows them before it runs, the model workload keeps the handcrafted order
            self._built = build_schedule(self.schedule, self.p, self.m, self.v, self.cost_model())

    def cost_model(self) -> CostModel:
        nbytes = 4 * math.prod(self.activation_shape())
        scale = self.stage_scale

        def per_rank(ms: float):      # one number, or one per rank for an unbalanced pipeline
            return ms / 1e3 if scale is None else [ms / 1e3 * f for f in scale]
        return CostModel(t_f=per_rank(self.tf_ms), t_b=per_rank(self.tb_ms), t_w=per_rank(self.tw_ms),
                         latency_s=self.latency_ms / 1e3, bandwidth_Bps=self.bandwidth_gbps * 1e9,
                         message_bytes=nbytes)
