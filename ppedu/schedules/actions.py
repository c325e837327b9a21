"""Pipeline schedules as data.

A schedule says, for every rank (GPU), the ordered list of actions it runs in one training step:
``F`` (forward of one micro-batch), ``B`` (backward) and, when backward is split as in
Zero Bubble, ``B`` = input gradient and ``W`` = weight gradient. Nothing here runs anything:
the same object is validated (``ppedu.schedules.validator``), simulated (``ppedu.schedules.simulator``), executed on
real ranks (``ppedu.training.engine``) and drawn.

Model chunk ``c`` of rank ``r`` is virtual stage ``c * p + r`` (Megatron interleaving), so with
``v = 1`` stage and rank are the same thing.

Micro-batches are numbered from 0, as in torch.distributed.pipelining and Megatron.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ppedu.errors import UsageError, check_int

SCHEDULE_NAMES = ("naive", "gpipe", "1f1b", "interleaved", "zb1", "forward-only")
KINDS = ("F", "B", "W")

MAX_P, MAX_M, MAX_V = 64, 1024, 16
# (virtual stage, micro-batch) pairs one schedule may hold: the largest non-interleaved one,
# 1F1B at p=64, m=1024 (131k actions). Interleaving at every limit at once would be 2M actions,
# which no entry point answers "within a second or two" (simulator, validator, Gantt).
MAX_TASKS = MAX_P * MAX_M


@dataclass(frozen=True)
class Action:
    """One unit of work on one rank: ``kind`` in F/B/W, micro-batch ``mb``, model ``chunk``."""

    kind: str
    mb: int
    chunk: int = 0

    def __str__(self) -> str:
        # chunk 0 is left out so that non-interleaved schedules print like the textbooks: F3, B0
        return f"{self.kind}{self.mb}" + (f"c{self.chunk}" if self.chunk else "")


@dataclass
class Schedule:
    """``ranks[r]`` is the ordered list of actions of rank ``r``."""

    name: str
    p: int
    m: int
    v: int = 1
    ranks: list[list[Action]] = field(default_factory=list)
    split_backward: bool = False

    @property
    def num_stages(self) -> int:
        return self.p * self.v

    def stage_of(self, rank: int, chunk: int) -> int:
        """Virtual stage run by ``chunk`` of ``rank`` (Megatron numbering)."""
        return chunk * self.p + rank

    def place_of(self, stage: int) -> tuple[int, int]:
        """(rank, chunk) that runs virtual stage ``stage``."""
        return stage % self.p, stage // self.p

    def __str__(self) -> str:
        rows = [f"GPU{r}: " + " ".join(map(str, acts)) for r, acts in enumerate(self.ranks)]
        return f"{self.name} p={self.p} m={self.m} v={self.v}\n" + "\n".join(rows)


def build_schedule(name: str, p: int, m: int, v: int = 1) -> Schedule:
    """Build schedule ``name`` for ``p`` ranks, ``m`` micro-batches, ``v`` chunks per rank."""
    if name not in SCHEDULE_NAMES:
        raise UsageError(f"schedule must be one of {', '.join(SCHEDULE_NAMES)} (got {name!r})")
    p = check_int("p", p, 1, MAX_P)
    m = check_int("m", m, 1, MAX_M)
    v = check_int("v", v, 1, MAX_V)
    if p * m * v > MAX_TASKS:
        raise UsageError(f"p*m*v must be at most {MAX_TASKS} (got {p}*{m}*{v} = {p * m * v})")
    if name == "interleaved":
        if v < 2:
            raise UsageError(f"v must be an integer in 2..{MAX_V} for interleaved 1F1B (got {v})")
        if m % p != 0:
            raise UsageError(f"m must be a multiple of p for interleaved 1F1B (got m={m}, p={p})")
        ranks = [_interleaved_rank(p, m, v, r) for r in range(p)]
        return Schedule(name, p, m, v, ranks, split_backward=False)
    if v != 1:
        raise UsageError(f"v must be 1 for schedule {name} (got {v}); only interleaved uses chunks")
    builder = _BUILDERS[name]
    ranks = [builder(p, m, r) for r in range(p)]
    return Schedule(name, p, m, 1, ranks, split_backward=(name == "zb1"))


def _naive_rank(p: int, m: int, rank: int) -> list[Action]:
    """Micro-batches one at a time through the whole pipe: F0 B0 F1 B1 ...

    Rank 0 only starts F1 after its own B0, which comes after every other rank's B0, so the
    micro-batches never overlap: each GPU is busy 1/p of the time whatever m is.
    Micro-batching without pipelining does not help.
    """
    actions = []
    for mb in range(m):
        actions += [Action("F", mb), Action("B", mb)]
    return actions


def _gpipe_rank(p: int, m: int, rank: int) -> list[Action]:
    """GPipe / all-forward-all-backward: every forward, then every backward (in mb order,
    as torch's ScheduleGPipe and picotron do). Holds the activations of all m micro-batches."""
    return [Action("F", mb) for mb in range(m)] + [Action("B", mb) for mb in range(m)]


def _1f1b_rank(p: int, m: int, rank: int) -> list[Action]:
    """1F1B (PipeDream-flush, Megatron non-interleaved, picotron).

    Warm-up: rank r runs min(p - r - 1, m) forwards, just enough to keep the ranks after it busy.
    Steady state: one forward, one backward. Cool-down: the remaining backwards.
    A backward frees a micro-batch's activations, so rank r never holds more than p - r.
    """
    warmup = min(p - rank - 1, m)
    actions = [Action("F", mb) for mb in range(warmup)]
    next_backward = 0
    for mb in range(warmup, m):
        actions += [Action("F", mb), Action("B", next_backward)]
        next_backward += 1
    actions += [Action("B", mb) for mb in range(next_backward, m)]
    return actions


def _zb1_rank(p: int, m: int, rank: int) -> list[Action]:
    """ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", ICLR 2024, Fig. 3 top).

    Backward is split into B (input gradient: the next rank waits for it) and W (weight
    gradient: nobody waits for it). The F/B order is exactly 1F1B's. W is what moves: rank r
    keeps its W's back so that at most r of them are pending, and runs them in the cool-down
    where 1F1B sat idle. Rank r holds activations until W, i.e. for at most (p - r) + r = p
    micro-batches: the same peak as 1F1B's first rank. With t_F = t_B = t_W the bubble
    shrinks from (p-1)(t_F+t_B+t_W) to (p-1)(t_F+t_B-t_W) per rank, a third.
    """
    may_defer = rank  # rank r leaves up to r weight-gradients for later
    pending_w: list[int] = []
    actions: list[Action] = []

    def backward(mb: int) -> None:
        actions.append(Action("B", mb))
        pending_w.append(mb)
        if len(pending_w) > may_defer:
            actions.append(Action("W", pending_w.pop(0)))

    for a in _1f1b_rank(p, m, rank):
        if a.kind == "F":
            actions.append(a)
        else:
            backward(a.mb)
    actions += [Action("W", mb) for mb in pending_w]  # cool-down: fill the idle tail with W's
    return actions


def _forward_only_rank(p: int, m: int, rank: int) -> list[Action]:
    """Inference: micro-batched forwards only (no backward, no gradient to wait for)."""
    return [Action("F", mb) for mb in range(m)]


def _interleaved_rank(p: int, m: int, v: int, rank: int) -> list[Action]:
    """Megatron interleaved 1F1B (Narayanan et al. SC'21; Megatron-LM
    ``forward_backward_pipelining_with_interleaving``).

    Each rank owns v model chunks. Forwards go in groups of p micro-batches per chunk
    (chunk 0 for mb 0..p-1, chunk 1 for the same mbs, ..., then the next p mbs); backwards walk
    the chunks in reverse. Warm-up is 2(p - r - 1) + (v - 1)p forwards, then 1F1B.
    Megatron requires m % p == 0 so that the groups of p line up.
    """
    total = m * v  # (micro-batch, chunk) pairs per rank

    def action(k: int, kind: str) -> Action:
        group, within = divmod(k, p * v)
        chunk = within // p
        if kind == "B":
            chunk = v - 1 - chunk
        mb = group * p + k % p
        return Action(kind, mb, chunk)

    warmup = min((p - rank - 1) * 2 + (v - 1) * p, total)
    actions = [action(k, "F") for k in range(warmup)]
    for k in range(total - warmup):
        actions += [action(warmup + k, "F"), action(k, "B")]
    actions += [action(k, "B") for k in range(total - warmup, total)]
    return actions


_BUILDERS = {
    "naive": _naive_rank,
    "gpipe": _gpipe_rank,
    "1f1b": _1f1b_rank,
    "zb1": _zb1_rank,
    "forward-only": _forward_only_rank,
}


# ---- dependencies: shared by the validator and the simulator ----------------------------------

# A task key names one piece of work in the whole pipeline: (kind, virtual stage, micro-batch).
TaskKey = tuple[str, int, int]


def task_key(schedule: Schedule, rank: int, action: Action) -> TaskKey:
    return (action.kind, schedule.stage_of(rank, action.chunk), action.mb)


def needs(schedule: Schedule, rank: int, action: Action) -> list[TaskKey]:
    """What ``action`` on ``rank`` must wait for.

    F of stage s needs the activations from F of stage s-1. B of stage s needs the activations
    its own F saved and the output gradient from B of stage s+1 (the last stage starts from the
    loss instead). W of stage s needs the output gradient that B of stage s received.
    """
    stage, last = schedule.stage_of(rank, action.chunk), schedule.num_stages - 1
    if action.kind == "F":
        return [("F", stage - 1, action.mb)] if stage > 0 else []
    if action.kind == "B":
        own = [("F", stage, action.mb)]
        return own + ([("B", stage + 1, action.mb)] if stage < last else [])
    return [("B", stage, action.mb)]
