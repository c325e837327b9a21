"""Pipeline schedules as data.

A schedule says, for every rank (GPU), the ordered list of actions it runs in one training step:
``F`` (forward of one micro-batch), ``B`` (backward) and, when backward is split as in
Zero Bubble, ``B`` = input gradient and ``W`` = weight gradient. DualPipeV also has ``O``: the
forward of one micro-batch and the backward of another issued as one overlapped pair (torch's
``OVERLAP_F_B``). Nothing here runs anything: the same object is validated
(``ppedu.schedules.validator``), simulated (``ppedu.schedules.simulator``), executed on real
ranks (``ppedu.training.engine``) and drawn. The builders live in ``ppedu.schedules.builders``,
which imports this module (never the other way round); ``ppedu.schedules.build_schedule`` is
``builders.build``.

Placement says which rank runs which virtual stage. Rank ``r`` holds ``v`` model chunks:
  * ``loop`` (Megatron interleaving, torch's default): chunk ``c`` is stage ``c * p + r``;
  * ``v`` (ZB-V, DualPipeV; torch's ``style="v"``): the stages zig-zag, so with ``v = 2`` rank
    ``r`` holds stages ``r`` and ``2p - 1 - r`` and the first and last stage share rank 0.
With ``v = 1`` both say stage = rank.

Micro-batches are numbered from 0, as in torch.distributed.pipelining and Megatron; ``label``
and ``parse`` take ``base=1`` for textbook tables that count from 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ppedu.errors import UsageError
from ppedu.i18n.catalog import _

SCHEDULE_NAMES = ("naive", "gpipe", "1f1b", "interleaved", "zb1", "forward-only",
                  "looped-bfs", "interleaved-zb", "zbv", "zb2", "dualpipev")
PLACEMENTS = ("loop", "v")
MAX_P, MAX_M, MAX_V = 64, 1024, 16
# (virtual stage, micro-batch) pairs one schedule may hold: the largest non-interleaved one,
# 1F1B at p=64, m=1024 (131k actions). Interleaving at every limit at once would be 2M actions,
# which no entry point answers "within a second or two" (simulator, validator, Gantt).
MAX_TASKS = MAX_P * MAX_M

# One action as people write it: F3, B_1, W{2}, F1c1 (kind, micro-batch, optional chunk). The only
# pattern for it: Action.parse and the Markdown table reader (schedules.tables) both use it.
ACTION_LABEL = re.compile(r"^([FBW])\s*_?\s*\{?(\d+)\}?(?:\s*c\s*(\d+))?$", re.IGNORECASE)


@dataclass(frozen=True)
class Action:
    """One unit of work on one rank: ``kind`` in F/B/W, micro-batch ``mb``, model ``chunk``.

    ``kind == "O"`` is an overlapped pair: ``parts == (forward, backward)``, issued together."""

    kind: str
    mb: int
    chunk: int = 0
    parts: tuple[Action, ...] = ()

    @classmethod
    def overlap(cls, forward: Action, backward: Action) -> Action:
        return cls("O", forward.mb, forward.chunk, (forward, backward))

    @property
    def units(self) -> tuple[Action, ...]:
        """The plain F/B/W actions this one runs: itself, or the two halves of a pair."""
        return self.parts or (self,)

    def label(self, base: int = 0) -> str:
        """``F3``, ``B0c1`` (chunk 0 is left out, as in the textbooks), ``F4c1+B0``; ``base=1``
        numbers micro-batches from 1."""
        if self.parts:
            return "+".join(part.label(base) for part in self.parts)
        return f"{self.kind}{self.mb + base}" + (f"c{self.chunk}" if self.chunk else "")

    def __str__(self) -> str:
        return self.label()

    @classmethod
    def parse(cls, text: str, base: int = 0) -> Action:
        """The inverse of ``label``: ``"F3"``, ``"B_1"``, ``"W2c1"``, ``"F4c1+B0"``."""
        halves = str(text).split("+")
        if len(halves) == 2:
            return cls.overlap(cls.parse(halves[0], base), cls.parse(halves[1], base))
        match = ACTION_LABEL.match(str(text).strip())
        if match is None or len(match.group(2)) > 7 or len(match.group(3) or "") > 3:
            raise UsageError(_("action must look like F0, B3, W2c1 or F4c1+B0 (got {text})").format(
                text=repr(str(text)[:40])))
        return cls(match.group(1).upper(), int(match.group(2)) - base, int(match.group(3) or 0))


def peak_held(actions: Iterable) -> int:
    """Most micro-batches (per chunk) whose activations a rank holds while running ``actions``
    in this order: held from F until the last backward of that (micro-batch, chunk), W when its
    backward is split, else B. A forward never followed by a backward (inference) holds them
    only while it runs. ``actions``: Actions, or anything with ``kind``, ``mb`` and ``chunk``
    (a timeline's events, in time order)."""
    units = [u for a in actions for u in (getattr(a, "parts", ()) or (a,))]
    return peak_of([u.kind for u in units], [(u.mb, u.chunk) for u in units])


def peak_of(kinds: list[str], keys: list) -> int:
    """``peak_held`` of units given as two lists: ``kinds[i]`` and ``keys[i]``, anything that
    names unit i's (micro-batch, chunk) (the simulator's fast path passes one int per pair)."""
    has_w = {key for kind, key in zip(kinds, keys) if kind == "W"}
    has_b = {key for kind, key in zip(kinds, keys) if kind == "B"}
    held = peak = 0
    for kind, key in zip(kinds, keys):
        if kind == "F":
            held += 1
            if held > peak:
                peak = held
            held -= key not in has_b
        elif kind == ("W" if key in has_w else "B"):
            held -= 1
    return peak


@dataclass
class Schedule:
    """``ranks[r]`` is the ordered list of actions of rank ``r``."""

    name: str
    p: int
    m: int
    v: int = 1
    ranks: list[list[Action]] = field(default_factory=list)
    split_backward: bool = False   # every backward is split into B and W
    placement: str = "loop"

    @property
    def num_stages(self) -> int:
        return self.p * self.v

    def stage_of(self, rank: int, chunk: int) -> int:
        """Virtual stage run by ``chunk`` of ``rank``."""
        if self.placement == "v" and chunk % 2:
            return chunk * self.p + self.p - 1 - rank
        return chunk * self.p + rank

    def place_of(self, stage: int) -> tuple[int, int]:
        """(rank, chunk) that runs virtual stage ``stage``."""
        chunk, within = divmod(stage, self.p)
        if self.placement == "v" and chunk % 2:
            return self.p - 1 - within, chunk
        return within, chunk

    def neighbours(self, rank: int, chunk: int) -> tuple[int | None, int | None]:
        """Ranks that run the stages before and after ``chunk`` of ``rank`` (None at the ends):
        where a forward's input comes from and where its output goes."""
        stage = self.stage_of(rank, chunk)
        before = self.place_of(stage - 1)[0] if stage > 0 else None
        after = self.place_of(stage + 1)[0] if stage < self.num_stages - 1 else None
        return before, after

    def weight_split(self, rank: int) -> set[tuple[int, int]]:
        """(chunk, mb) pairs whose backward ``rank`` splits into B and a separate W."""
        return {(u.chunk, u.mb) for a in self.ranks[rank] for u in a.units if u.kind == "W"}

    def __str__(self) -> str:
        rows = [f"GPU{r}: " + " ".join(map(str, acts)) for r, acts in enumerate(self.ranks)]
        return f"{self.name} p={self.p} m={self.m} v={self.v}\n" + "\n".join(rows)

    def where_it_failed(self, rank: int, index: int, around: int = 6) -> str:
        """Rank ``rank``'s actions near action ``index``, the failing one marked ``<-- here``
        (torch's ``_format_pipeline_order(..., error_step_number)`` does the same)."""
        actions = self.ranks[rank]
        lo, hi = max(0, index - around), min(len(actions), index + around + 1)
        lines = [_("GPU{rank} failed at action {index} of {n} ({name} p={p} m={m} v={v}):").format(
            rank=rank, index=index, n=len(actions), name=self.name, p=self.p, m=self.m, v=self.v)]
        lines += ["  ..."] * (lo > 0)
        here = "   " + _("<-- here")
        lines += [f"  {i:>4}  {actions[i]}" + (here if i == index else "")
                  for i in range(lo, hi)]
        lines += ["  ..."] * (hi < len(actions))
        return "\n".join(lines)


# ---- dependencies: shared by the validator and the simulator ----------------------------------

# A task key names one piece of work in the whole pipeline: (kind, virtual stage, micro-batch).
TaskKey = tuple[str, int, int]


def task_key(schedule: Schedule, rank: int, action: Action) -> TaskKey:
    """Key of a plain action (one of ``action.units``)."""
    return (action.kind, schedule.stage_of(rank, action.chunk), action.mb)


def needs(schedule: Schedule, rank: int, action: Action) -> list[TaskKey]:
    """What plain ``action`` on ``rank`` must wait for.

    F of stage s needs the activations from F of stage s-1. B of stage s needs the activations
    its own F saved and the output gradient from B of stage s+1 (the last stage starts from the
    loss instead). W of stage s needs the output gradient that B of stage s received.
    """
    return _needs(task_key(schedule, rank, action), schedule.num_stages - 1)


def _needs(key: TaskKey, last: int) -> list[TaskKey]:
    kind, stage, mb = key
    if kind == "F":
        return [("F", stage - 1, mb)] if stage > 0 else []
    if kind == "B":
        return [("F", stage, mb), ("B", stage + 1, mb)] if stage < last else [("F", stage, mb)]
    return [("B", stage, mb)]


def rank_tasks(schedule: Schedule, rank: int) -> list[tuple[TaskKey, list[TaskKey]]]:
    """Rank ``rank``'s plain actions in order as (key, what it waits for). The first half of an
    overlapped pair also waits for what the second half needs: the pair starts when both of its
    inputs are there. (Written for speed: the simulator calls it for 10^5 actions.)"""
    last, stage_of = schedule.num_stages - 1, schedule.stage_of
    stages = [stage_of(rank, c) for c in range(schedule.v)]
    out = []
    for action in schedule.ranks[rank]:
        if not action.parts:
            chunk = action.chunk
            key = (action.kind, stages[chunk] if 0 <= chunk < len(stages)
                   else stage_of(rank, chunk), action.mb)
            out.append((key, _needs(key, last)))
            continue
        first, second = ((u.kind, stage_of(rank, u.chunk), u.mb) for u in action.parts)
        waits = _needs(first, last) + [d for d in _needs(second, last) if d != first]
        out += [(first, waits), (second, _needs(second, last))]
    return out
