"""The simulator's fast path: a schedule compiled to task numbers, run by a loop over lists.

``ppedu.schedules.simulator`` explains the model with tuple keys ``(kind, stage, mb)``, dicts and
callbacks (``simulate_reference``). This module computes exactly the same numbers, bit for bit
(tests/schedules/test_simulator_fast.py compares every builder), about 3 times faster, for the planner,
the frontier sweeps, the validator and the widgets, which simulate up to 10^5 actions at a
time. Where the time went (benchmarks/bench_simulator.py measures it):

  * a task is one int, ``code = kind offset + stage * m + mb``: lists indexed by it replace dicts
    keyed by tuples (hashing a tuple costs more than the rest of a step of the event loop);
  * what a task waits for is the same for every micro-batch of one (kind, stage): "F of the
    stage before" is always ``code - m``. So each (kind, chunk) gets one tuple of
    ``(code offset, message delay)``, shared by all its tasks, instead of one list per task;
  * per-rank lists are built by ``map`` and ``zip`` (loops in C), not by Python loops;
  * the event loop writes each rank's start and end times in that rank's order, which is the
    order its events come in, and the Timeline merges the ranks' runs (``Timeline.from_ranks``)
    instead of sorting 10^5 events from scratch.

Only a well-formed schedule takes this path: plain ``Action`` objects of kind F/B/W, every
micro-batch and chunk in range, no task twice. Anything else, and a deadlock, returns None, and
the caller runs the reference, which explains what is wrong in the same words as always.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from itertools import repeat
from operator import add, attrgetter, getitem
from typing import NamedTuple

from ppedu.schedules.actions import Action, Schedule, _needs, peak_of
from ppedu.schedules.timeline import Event, Timeline

KINDS = ("F", "B", "W")


@contextmanager
def without_cyclic_gc():
    """The simulator and the validator allocate a few small objects per action, all alive until
    they return and none in a reference cycle; the cyclic collector would re-scan them again and
    again (measured: it made p=64, m=512 cost 5-10x more per action than p=8, m=64). Reference
    counting still frees everything; the collector is back on when we return."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Program(NamedTuple):
    """A schedule as numbers. Per rank, one entry per plain action, in the rank's order."""

    codes: list[list[int]]        # task numbers
    waits: list[list[tuple]]      # ((code offset, message delay), ...) it waits for
    kinds: list[list[str]]
    mbs: list[list[int]]
    chunks: list[list[int]]
    slots: list[list[int]]        # stage * m + mb: names the (micro-batch, chunk) on its rank
    size: int                     # number of possible codes: 3 kinds x stages x m


def compile_schedule(schedule: Schedule, message: float) -> Program | None:
    """``schedule`` as numbers, each message costing ``message``; None if not well-formed."""
    p, v, m = schedule.p, schedule.v, schedule.m
    if len(schedule.ranks) != p:
        return None
    slots = schedule.num_stages * m
    offset = {"F": 0, "B": slots, "W": 2 * slots}
    rows = [_compile_rank(schedule, rank, message, offset) for rank in range(p)]
    if None in rows:
        return None
    program = Program(*(list(column) for column in zip(*rows)), size=3 * slots)
    every = [code for row in program.codes for code in row]
    return program if len(set(every)) == len(every) else None  # a task twice: not well-formed


def _compile_rank(schedule: Schedule, rank: int, message: float, offset: dict) -> tuple | None:
    """(codes, waits, kinds, mbs, chunks, slots) of one rank, or None if it is not well-formed."""
    actions = schedule.ranks[rank]
    if not set(map(type, actions)) <= {Action}:
        return None
    pairs = [i for i, a in enumerate(actions) if a.parts]  # overlapped pairs, in order
    units = [u for a in actions for u in (a.parts or (a,))] if pairs else actions
    if pairs and not set(map(type, units)) <= {Action}:
        return None
    kinds = list(map(attrgetter("kind"), units))
    mbs = list(map(attrgetter("mb"), units))
    chunks = list(map(attrgetter("chunk"), units))
    if units and not (set(kinds) <= set(KINDS) and _ints_below(mbs, schedule.m)
                      and _ints_below(chunks, schedule.v)):
        return None
    base = [schedule.stage_of(rank, c) * schedule.m for c in range(schedule.v)]
    stage_slots = list(map(add, map(base.__getitem__, chunks), mbs))
    codes = list(map(add, map(offset.__getitem__, kinds), stage_slots))
    table = _wait_table(schedule, rank, message)
    waits = list(map(getitem, map(table.__getitem__, kinds), chunks))
    if pairs:
        if any(len(actions[i].parts) != 2 for i in pairs):
            return None
        _pairs_wait_for_both(schedule, rank, message, offset, pairs, waits)
    return codes, waits, kinds, mbs, chunks, stage_slots


def _ints_below(values: list, limit: int) -> bool:
    """Every value is an int (not a bool, not 1.0) in 0..limit-1."""
    return set(map(type, values)) == {int} and min(values) >= 0 and max(values) < limit


def _wait_table(schedule: Schedule, rank: int, message: float) -> dict[str, list[tuple]]:
    """For each kind and chunk: what its tasks wait for, as (code offset, delay) pairs.

    F of stage s waits for F of stage s-1 (``code - m``); B for its own F (``code - slots``) and
    B of stage s+1 (``code + m``); W for its own B (``code - slots``). A dependency on another
    rank arrives ``message`` after it ends; one on this rank has no delay."""
    m, last, slots = schedule.m, schedule.num_stages - 1, schedule.num_stages * schedule.m

    def delay(stage: int) -> float:
        return 0.0 if schedule.place_of(stage)[0] == rank else message

    table: dict[str, list[tuple]] = {kind: [] for kind in KINDS}
    for chunk in range(schedule.v):
        s = schedule.stage_of(rank, chunk)
        table["F"].append(((-m, delay(s - 1)),) if s > 0 else ())
        table["B"].append(((-slots, 0.0),) + (((m, delay(s + 1)),) if s < last else ()))
        table["W"].append(((-slots, 0.0),))
    return table


def _pairs_wait_for_both(schedule: Schedule, rank: int, message: float, offset: dict,
                         pairs: list[int], waits: list[tuple]) -> None:
    """An overlapped pair starts when both halves' inputs are there: its first half also waits
    for what the second needs (``actions.rank_tasks``, the reference, does the same). Code
    offsets depend on the halves' kinds, chunks and micro-batch distance only, so pairs of one
    shape share one answer (DualPipeV repeats a few shapes thousands of times)."""
    m, last = schedule.m, schedule.num_stages - 1
    shapes: dict[tuple, tuple] = {}
    for before, index in enumerate(pairs):  # each earlier pair adds one unit before this one
        f, b = schedule.ranks[rank][index].parts
        shape = (f.kind, f.chunk, b.kind, b.chunk, b.mb - f.mb)
        if shape not in shapes:
            first, second = ((u.kind, schedule.stage_of(rank, u.chunk), u.mb) for u in (f, b))
            needs = _needs(first, last) + [d for d in _needs(second, last) if d != first]
            code = offset[first[0]] + first[1] * m + first[2]
            shapes[shape] = tuple((offset[k] + s * m + mb - code,
                                   0.0 if schedule.place_of(s)[0] == rank else message)
                                  for k, s, mb in needs)
        waits[index + before] = shapes[shape]


def durations(program: Program, split_backward: bool, t_f: list[float], t_b: list[float],
              t_w: list[float], v: int) -> list[list[float]]:
    """Each task's duration, as ``simulator._simulate`` prices it: a rank's cost over v chunks;
    a B whose W runs separately (split backward) costs t_b, a whole one t_b + t_w."""
    rows = []
    for rank, kinds in enumerate(program.kinds):
        each = {"F": t_f[rank] / v, "W": t_w[rank] / v,
                "B": t_b[rank] / v if split_backward else (t_b[rank] + t_w[rank]) / v}
        row = list(map(each.__getitem__, kinds))
        if not split_backward and "W" in kinds:  # DualPipeV splits only some backwards
            has_w = {s for k, s in zip(kinds, program.slots[rank]) if k == "W"}
            for i, (kind, slot) in enumerate(zip(kinds, program.slots[rank])):
                if kind == "B" and slot in has_w:
                    row[i] = t_b[rank] / v
        rows.append(row)
    return rows


def run_program(program: Program, durations: list[list[float]]) -> tuple[list, list] | None:
    """The event loop of ``simulator.run_task_lists`` on numbers: each rank runs its tasks in
    order, a task starting when the rank is free and every task it waits for has ended (plus the
    message delay). A blocked rank parks on the task it misses until that task ends.

    Returns each rank's start and end times, in its order, or None on a deadlock (the
    reference names who waits for what)."""
    finish: list = [None] * program.size  # end time by task code: what the others look up
    p = len(program.codes)
    begins = [[0.0] * len(codes) for codes in program.codes]
    ends = [[0.0] * len(codes) for codes in program.codes]
    position, free_at = [0] * p, [0.0] * p
    parked: dict[int, list[int]] = {}  # missing task -> ranks waiting for it
    runnable = list(range(p))
    while runnable:
        rank = runnable.pop()
        codes, durs, waits = program.codes[rank], durations[rank], program.waits[rank]
        begin, end_at = begins[rank], ends[rank]
        i, clock = position[rank], free_at[rank]
        n = len(codes)
        while i < n:
            task = codes[i]
            for shift, delay in waits[i]:
                end = finish[task + shift]
                if end is None:  # not done yet: park on it (the for-else below is skipped)
                    parked.setdefault(task + shift, []).append(rank)
                    break
                if end + delay > clock:
                    clock = end + delay
            else:
                begin[i] = clock
                clock = finish[task] = end_at[i] = clock + durs[i]
                i += 1
                if parked and task in parked:
                    runnable += parked.pop(task)
                continue
            break
        position[rank], free_at[rank] = i, clock
    if any(i < len(codes) for i, codes in zip(position, program.codes)):
        return None
    return begins, ends


def timeline_of(program: Program, begins: list[list[float]], ends: list[list[float]]) -> Timeline:
    """The timeline of a finished run, with each rank's busy time summed on the way (exactly as
    ``Timeline.busy`` sums it: in time order, the intervals never overlap on one rank)."""
    rows, busy = [], []
    for rank, codes in enumerate(program.codes):
        starts, stops = begins[rank], ends[rank]
        total = 0.0
        for start, end in zip(starts, stops):
            if end > start:
                total += end - start
        busy.append(total)
        fields = zip(repeat(rank), program.kinds[rank], program.mbs[rank], program.chunks[rank],
                     starts, stops)
        rows.append(list(map(tuple.__new__, repeat(Event), fields)))  # Event(*f), without a call
    return Timeline.from_ranks(rows, len(program.codes), busy)


def peaks_of(program: Program) -> list[int]:
    """Each rank's most micro-batches held (``Timeline.peak_inflight``; its events are the
    rank's actions in order)."""
    return [peak_of(kinds, slots) for kinds, slots in zip(program.kinds, program.slots)]
