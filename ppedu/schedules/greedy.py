"""A greedy list scheduler for split-backward pipelines: each rank's order, chosen for the costs.

The handcrafted zero-bubble schedules (ZB-H1, ZB-H2) fix their orders for T_F = T_B = T_W. With
other costs the Zero Bubble paper (Qi et al. 2024, arXiv 2401.10241, sec. 3) computes the order
instead: a heuristic in three phases (as many warm-up forwards as the memory limit allows, then
one forward one backward with W's put where they fill a gap, then the remaining W's), refined by
an ILP (``auto_schedule.py`` in sail-sg/zero-bubble-pipeline-parallelism). This module is the
simplest scheduler of that kind, list scheduling:

    repeatedly, among the next actions of all ranks whose inputs are computed or being
    computed, start the one that can start earliest; on a tie B before F before W (B is on the
    critical path, W is not), then the lower rank. A rank may hold at most ``cap``
    micro-batches' activations (F done, W not yet).

It runs the pipeline as the simulator does (``ppedu.schedules.simulator``: an action starts
when its rank is free and its inputs have arrived, a message costing ``message`` between ranks)
and writes down the order in which each rank started its actions; the simulator, replaying that
order, finds the same times. Every rank runs its F's, B's and W's each in micro-batch order.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from ppedu.schedules.actions import Action

_PRIORITY = {"B": 0, "F": 1, "W": 2}


class _Pipe:
    """The state of the pipeline while the list scheduler fills it (one chunk per rank)."""

    def __init__(self, p: int, m: int, cost: dict[str, Sequence[float]], message: float,
                 cap: int):
        self.p, self.m, self.cost, self.message, self.cap = p, m, cost, message, cap
        self.done = {kind: [0] * p for kind in "FBW"}     # actions of each kind run per rank
        self.end_f = [[0.0] * m for _ in range(p)]          # when each F ended
        self.end_b = [[0.0] * m for _ in range(p)]          # when each B ended
        self.free = [0.0] * p                               # when each rank is next idle
        self.order: list[list[Action]] = [[] for _ in range(p)]
        # times that differ by float rounding only are a tie (else 15 ms costs and 1.5 units
        # would order differently): compare them in ticks of a billionth of the largest cost
        self.tick = 1e-9 * max([message, 1e-3] + [max(c) for c in cost.values() if len(c)])

    def when(self, start: float) -> int:
        """``start`` in ticks: the time the scheduler compares."""
        return round(start / self.tick)

    def candidate(self, r: int) -> tuple[int, int, float, str] | None:
        """Rank r's best next action as (start in ticks, priority, start, kind); None if none
        can start."""
        done_f, done_b = self.done["F"], self.done["B"]
        f, b, w, free, last = done_f[r], done_b[r], self.done["W"][r], self.free[r], self.p - 1
        best = None
        if b < f and (r == last or done_b[r + 1] > b):    # B: its output gradient is computed
            arrival = self.end_f[r][b] if r == last else self.end_b[r + 1][b] + self.message
            start = max(free, arrival)
            best = (self.when(start), _PRIORITY["B"], start, "B")
        if f < self.m and f - w < self.cap and (r == 0 or done_f[r - 1] > f):
            start = max(free, 0.0 if r == 0 else self.end_f[r - 1][f] + self.message)
            option = (self.when(start), _PRIORITY["F"], start, "F")
            best = option if best is None or option < best else best
        if w < b:                                          # W: any time after its B
            option = (self.when(free), _PRIORITY["W"], free, "W")
            best = option if best is None or option < best else best
        return best

    def run(self, r: int, start: float, kind: str) -> None:
        """Start rank r's next action of ``kind`` at ``start``."""
        mb = self.done[kind][r]
        end = start + self.cost[kind][r]
        if kind == "F":
            self.end_f[r][mb] = end
        elif kind == "B":
            self.end_b[r][mb] = end
        self.done[kind][r] += 1
        self.free[r] = end
        self.order[r].append(Action(kind, mb))


def list_schedule(p: int, m: int, t_f: Sequence[float], t_b: Sequence[float],
                  t_w: Sequence[float], message: float = 0.0, cap: int | None = None
                  ) -> list[list[Action]]:
    """Each rank's order of F, B and W for ``p`` ranks and ``m`` micro-batches, by list
    scheduling (module docstring). ``t_f``, ``t_b``, ``t_w``: one cost per rank; ``message``:
    the time a message takes between ranks; ``cap``: the most micro-batches a rank may hold
    (default 2p - 1, ZB-H2's memory). Deterministic, O(pm log p)."""
    cap = 2 * p - 1 if cap is None else cap
    pipe = _Pipe(p, m, {"F": t_f, "B": t_b, "W": t_w}, message, max(1, cap))
    version = [0] * p
    heap: list[tuple[int, int, int, int, float, str]] = []

    def refresh(r: int) -> None:     # rank r's state changed: its best candidate may differ
        version[r] += 1
        best = pipe.candidate(r)
        if best is not None:
            ticks, priority, start, kind = best
            heapq.heappush(heap, (ticks, priority, r, version[r], start, kind))

    for r in range(p):
        refresh(r)
    while heap:
        _, _, r, seen, start, kind = heapq.heappop(heap)
        if seen != version[r]:
            continue                 # stale: rank r changed since this entry was pushed
        pipe.run(r, start, kind)
        # an F lets the next rank's F start, a B the previous rank's B; both change rank r
        for other in {r, r + 1 if kind == "F" else r - 1 if kind == "B" else r}:
            if 0 <= other < p:
                refresh(other)
    return pipe.order
