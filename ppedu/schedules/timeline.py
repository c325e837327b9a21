"""Timelines: what each rank did, and when. Simulated and measured runs both produce one.

Times are in seconds from the start of the step (0). An event's ``kind`` is a compute kind
(F, B, W; "prefill"/"decode" when serving) or a communication kind ("send", "recv", "wait"),
which is drawn but never counts as busy: a GPU waiting on a message is a bubble.
"""

from __future__ import annotations

import json
import math
from operator import attrgetter
from typing import NamedTuple

from ppedu.schedules.actions import Action, peak_held
from ppedu.i18n.catalog import _

COMPUTE_KINDS = ("F", "B", "W", "prefill", "decode")


class Event(NamedTuple):
    """One thing one rank did: compute (F/B/W, prefill/decode) or waiting on a message.
    A NamedTuple, not a dataclass: a 64-rank simulation makes 10^5 of them."""

    rank: int
    kind: str
    mb: int
    chunk: int = 0
    start: float = 0.0
    end: float = 0.0

    def action(self) -> Action:
        return Action(self.kind, self.mb, self.chunk)

    @property
    def label(self) -> str:
        return self.action().label()


class Timeline:
    """Events of ``world_size`` ranks, with the metrics the course measures."""

    def __init__(self, events: list[Event], world_size: int):
        self.events = sorted(events, key=attrgetter("start", "rank", "end"))
        self.world_size = world_size
        self._makespan: float | None = None
        self._busy: dict[int, float] = {}
        self._by_rank: dict[int, list[Event]] = {}  # one pass, not one per rank (p=64 is common)
        for e in self.events:
            self._by_rank.setdefault(e.rank, []).append(e)

    @classmethod
    def from_ranks(cls, rows: list[list[Event]], world_size: int,
                   busy: list[float] | None = None) -> Timeline:
        """The same Timeline as ``Timeline(events, world_size)``, faster, when ``rows[r]`` holds
        rank r's events back to back in time order (each starts when the one before ended or
        later: a simulation's). Then a stable sort by start alone of the rows one after another
        is the sort by (start, rank, end): equal starts keep the lower rank first, and on one
        rank a zero-length event ends before the next one; the last event of a row ends last.
        ``busy[r]``, when the caller already summed it, must be what ``busy(r)`` computes."""
        timeline = cls([], world_size)
        events = [e for row in rows for e in row]
        events.sort(key=attrgetter("start"))
        timeline.events = events
        timeline._makespan = max((row[-1].end for row in rows if row), default=0.0)
        timeline._by_rank = {rank: row for rank, row in enumerate(rows) if row}
        if busy is not None:
            timeline._busy = dict(enumerate(busy))
        return timeline

    @property
    def makespan(self) -> float:
        if self._makespan is None:  # asked once per rank by idle(): compute it once
            self._makespan = max(map(attrgetter("end"), self.events), default=0.0)
        return self._makespan

    def rank_events(self, rank: int, compute_only: bool = False) -> list[Event]:
        return [e for e in self._by_rank.get(rank, [])
                if not compute_only or e.kind in COMPUTE_KINDS]

    def busy(self, rank: int) -> float:
        """Seconds rank spent computing (union of its compute intervals)."""
        if rank not in self._busy:  # idle() and bubble_fraction() ask again: compute it once
            self._busy[rank] = self._union(rank)
        return self._busy[rank]

    def _union(self, rank: int) -> float:
        total, covered_until = 0.0, -math.inf
        for e in self.rank_events(rank, compute_only=True):  # sorted by start already
            start = max(e.start, covered_until)
            if e.end > start:
                total += e.end - start
            covered_until = max(covered_until, e.end)
        return total

    def idle(self, rank: int) -> float:
        return self.makespan - self.busy(rank)

    def bubble_fraction(self) -> float:
        """Idle time summed over ranks / (ranks x makespan): the share of GPU time wasted."""
        if self.makespan <= 0:
            return 0.0
        idle = sum(self.idle(r) for r in range(self.world_size))
        return idle / (self.world_size * self.makespan)

    def peak_inflight(self, rank: int) -> int:
        """Most micro-batches whose activations rank holds at once.

        A micro-batch (per model chunk) is held from the start of its forward until the end of
        its last backward: W when backward is split, else B; a forward with no backward at all
        (inference) holds them only while it runs. With interleaving each unit is one chunk's
        activations (1/v of the rank's layers).
        """
        return peak_held(self.rank_events(rank, compute_only=True))

    # ---- drawing ---------------------------------------------------------------------------

    def to_chrome_trace(self) -> dict:
        """Chrome / Perfetto trace (open in ui.perfetto.dev): one track per rank, times in us."""
        trace = []
        for r in range(self.world_size):
            trace.append({"ph": "M", "name": "process_name", "pid": r, "tid": r,
                          "args": {"name": f"GPU {r}"}})
            trace.append({"ph": "M", "name": "thread_name", "pid": r, "tid": r,
                          "args": {"name": f"rank {r}"}})
            trace.append({"ph": "M", "name": "process_sort_index", "pid": r, "tid": r,
                          "args": {"sort_index": r}})
        for e in self.events:
            trace.append({"ph": "X", "name": e.label, "cat": e.kind, "pid": e.rank, "tid": e.rank,
                          "ts": e.start * 1e6, "dur": (e.end - e.start) * 1e6,
                          "args": {"mb": e.mb, "chunk": e.chunk, "kind": e.kind}})
        return {"traceEvents": trace, "displayTimeUnit": "ms"}

    def save_chrome_trace(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_chrome_trace(), f)

    def text_gantt(self, unit: float | None = None, max_rows: int = 400, mb_base: int = 0,
                   time_unit: str = "s") -> str:
        """A Markdown table like the textbooks': one row per time slot, one column per GPU.

        ``unit`` is the slot width in seconds; by default the shortest compute event, so a
        simulation with equal costs gets one row per action. A slot shows the event covering
        most of it, ``-`` when the GPU is idle. ``mb_base=1`` numbers micro-batches from 1, as
        hand-written textbook tables do. ``time_unit`` names the unit of the times ("s" prints
        ms/us as fits). An action longer than one row shows its label once and ``...`` below
        (not twice: it ran once). The output parses back with
        ``ppedu.schedules.validator.parse_markdown_table`` when
        every event is one slot long.
        """
        compute = [e for e in self.events if e.kind in COMPUTE_KINDS and e.end > e.start]
        if unit is None:
            unit = min((e.end - e.start for e in compute), default=1.0)
        if self.makespan / unit > max_rows:  # keep the table readable
            unit = self.makespan / max_rows
        rows = max(1, math.ceil(self.makespan / unit - 1e-9))
        owner: list[list[Event | None]] = [[None] * self.world_size for _ in range(rows)]
        best = [[0.0] * self.world_size for _ in range(rows)]
        for e in compute:
            first, last = int(e.start / unit + 1e-9), math.ceil(e.end / unit - 1e-9)
            for slot in range(first, min(last, rows)):
                overlap = min(e.end, (slot + 1) * unit) - max(e.start, slot * unit)
                if overlap > best[slot][e.rank] + 1e-12:
                    best[slot][e.rank], owner[slot][e.rank] = overlap, e
        grid = [["-" if e is None else "..." if t and owner[t - 1][r] is e
                 else e.action().label(mb_base) for r, e in enumerate(row)]
                for t, row in enumerate(owner)]
        width = max([5] + [len(c) for row in grid for c in row])
        tw = max(1, len(str(rows - 1)))
        header = f"| {'t'.rjust(tw)} | " + " | ".join(
            f"GPU{r}".ljust(width) for r in range(self.world_size)) + " |"
        rule = f"|{'-' * (tw + 2)}|" + "|".join("-" * (width + 2) for _ in range(self.world_size))
        lines = [header, rule + "|"]
        for t, row in enumerate(grid):
            lines.append(f"| {str(t).rjust(tw)} | " + " | ".join(c.ljust(width) for c in row) + " |")
        if not math.isclose(unit, 1.0):
            width_text = _format_seconds(unit) if time_unit == "s" else f"{unit:.3g} {time_unit}"
            lines.append("\n" + _("(one row = {width})").format(width=width_text))
        return "\n".join(lines)


def _format_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"
