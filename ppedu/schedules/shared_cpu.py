"""Pipeline ranks that share fewer CPU cores than there are ranks: a processor-sharing replay.

With p ranks on C < p cores (4 ranks on a 2-core laptop or Binder) an action has no fixed
duration. The OS scheduler gives each of the n ranks that want the CPU at a moment about
min(1, C / n) of a core (Linux's CFS is built to approximate this "ideal, precise multi-tasking
CPU": kernel Documentation/scheduler/sched-design-CFS.rst; the queueing model is processor
sharing, Kleinrock, JACM 14(2), 1967). So the warm-up and cool-down of a pipeline, where few
ranks compute, run at full speed, and its steady state, where all p compute, at C / p speed: the
same forward takes twice as long in the middle of a 4-rank step on 2 cores as at its start.
A cost model with one duration per action averages the two and misplaces the critical path.

What stays fixed is the *work* of an action, the CPU time it needs. It is read off a measured
timeline as

    work = integral over the action's interval of min(1, C / n_busy(t)) dt

where ``n_busy(t)`` counts the ranks on the CPU at t: computing, or between two actions (the
executor's Python). A rank blocked in a receive sleeps inside gloo and leaves its core to others.
``replay`` then runs each rank's tasks in order with the simulator's dependencies, but advances
time in fluid steps: every rank whose next task is ready progresses at min(1, C / n_ready). With
C >= p nobody is slowed down and it computes what ``ppedu.schedules.simulator`` computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence

from ppedu.schedules.timeline import Timeline

Interval = tuple[float, float]


def busy_intervals(timeline: Timeline, rank: int) -> list[Interval]:
    """When ``rank`` was on the CPU: from its first to its last event, minus its receive waits."""
    events = sorted(timeline.rank_events(rank), key=lambda e: (e.start, e.end))
    if not events:
        return []
    out, cursor = [], events[0].start
    for e in events:
        if e.kind == "recv":
            if e.start > cursor:
                out.append((cursor, e.start))
            cursor = max(cursor, e.end)
    last = max(e.end for e in events)
    if last > cursor:
        out.append((cursor, last))
    return out


def busy_profile(timeline: Timeline) -> list[tuple[float, int]]:
    """``[(t, n)]``: from time t on (until the next entry) n ranks are on the CPU."""
    edges = []
    for r in range(timeline.world_size):
        for start, end in busy_intervals(timeline, r):
            edges += [(start, 1), (end, -1)]
    profile, n = [], 0
    for t, step in sorted(edges):
        n += step
        if profile and profile[-1][0] == t:
            profile[-1] = (t, n)
        else:
            profile.append((t, n))
    return profile


def work_in(profile: list[tuple[float, int]], start: float, end: float, cores: int) -> float:
    """CPU seconds a rank busy from ``start`` to ``end`` got: the integral of min(1, C / n)."""
    total = 0.0
    for i, (t, n) in enumerate(profile):
        t_next = profile[i + 1][0] if i + 1 < len(profile) else math.inf
        lo, hi = max(start, t), min(end, t_next)
        if hi > lo:
            total += (hi - lo) * min(1.0, cores / max(n, 1))
    return total


def replay(task_lists: Sequence[Sequence[Hashable]], needs: Callable[[Hashable], list],
           work: Callable[[int, Hashable], float], delay: Callable[[int, Hashable], float],
           cores: float, start_at: Sequence[float] | None = None
           ) -> dict[Hashable, tuple[int, float, float]]:
    """Run each rank's tasks in order under processor sharing; ``{task: (rank, start, end)}``.

    A task is ready once the rank finished its previous task and every task in ``needs(task)``
    ended ``delay(rank, dependency)`` ago (the message). Ready tasks progress at
    min(1, cores / n_ready) CPU seconds per second until ``work(rank, task)`` is done. A rank
    starts its first task no earlier than ``start_at[rank]`` (default 0)."""
    p = len(task_lists)
    index, free_at, remaining = [0] * p, list(start_at or [0.0] * p), [None] * p
    started, ended, done, t = [0.0] * p, {}, {}, 0.0
    while True:
        ready = [_ready_at(r, task_lists, index, free_at, remaining, started, needs, delay, ended)
                 for r in range(p)]
        active = [r for r in range(p) if ready[r] is not None and ready[r] <= t]
        upcoming = [x for x in ready if x is not None and x > t]
        if not active:
            if not upcoming:
                return done  # every rank finished (a deadlocked schedule stops here too)
            t = min(upcoming)
            continue
        for r in active:
            if remaining[r] is None:
                remaining[r], started[r] = work(r, task_lists[r][index[r]]), t
        rate = min(1.0, cores / len(active))
        step = min(min(remaining[r] for r in active) / rate, min(upcoming, default=math.inf) - t)
        t += step
        for r in active:
            remaining[r] -= rate * step
            if remaining[r] <= 1e-12:
                task = task_lists[r][index[r]]
                done[task], ended[task] = (r, started[r], t), t
                index[r], free_at[r], remaining[r] = index[r] + 1, t, None


def _ready_at(r, task_lists, index, free_at, remaining, started, needs, delay, ended):
    """When rank ``r``'s next task can (or did) start; None when finished or blocked."""
    if index[r] >= len(task_lists[r]):
        return None
    if remaining[r] is not None:
        return started[r]
    at = free_at[r]
    for dep in needs(task_lists[r][index[r]]):
        if dep not in ended:
            return None
        at = max(at, ended[dep] + delay(r, dep))
    return at
