"""The simulator's fast path (``ppedu.schedules.compiled``) gives exactly the reference's numbers.

``simulate`` runs well-formed schedules on task numbers; ``simulate_reference`` is the plain
version with tuple keys. Every builder, several p / m / v, split backward, per-rank costs,
latency and bandwidth: the timelines (every event, in order) and every metric must be equal,
bit for bit. Broken schedules must take the reference path and answer as it does.
"""

import itertools

import pytest

from ppedu.errors import UsageError
from ppedu.schedules import compiled
from ppedu.schedules.actions import SCHEDULE_NAMES, Action, Schedule
from ppedu.schedules import build_schedule
from ppedu.schedules.simulator import CostModel, Deadlock, simulate, simulate_reference
from ppedu.schedules.validator import validate

COSTS = [CostModel(), CostModel(1, 1, 1), CostModel(1.0, 2.5, 0.7, latency_s=0.3),
         CostModel(t_f=0.1, t_b=0.3, t_w=0.2, message_bytes=1e3, bandwidth_Bps=3e4),
         CostModel(t_f=[1.0, 2.0, 0.5, 1.5, 1.0, 3.0], t_b=[2.0, 1.0, 1.0, 0.5, 2.0, 1.0],
                   t_w=[0.5, 0.0, 1.0, 0.25, 0.1, 0.3], latency_s=0.05)]


def _fingerprint(result):
    """Everything a caller can read, floats as hex (so -0.0 and 0.0 differ, as bits do)."""
    events = [(e.rank, e.kind, e.mb, type(e.mb), e.chunk, e.start.hex(), e.end.hex())
              for e in result.timeline.events]
    timeline = result.timeline
    per_rank = [(timeline.rank_events(r), timeline.busy(r).hex(), timeline.peak_inflight(r))
                for r in range(timeline.world_size)]
    return (events, per_rank, result.makespan.hex(), result.bubble_fraction.hex(),
            [b.hex() for b in result.busy], [i.hex() for i in result.idle], result.peak_inflight)


def _schedules():
    for name in SCHEDULE_NAMES:
        for p, m, v in itertools.product((1, 2, 3, 6), (1, 2, 5, 12, 13), (1, 2, 3)):
            try:
                yield build_schedule(name, p, m, v)
            except UsageError:  # a size the schedule does not take
                continue


def test_fast_path_equals_reference_on_every_builder():
    compared = set()
    for schedule in _schedules():
        assert compiled.compile_schedule(schedule, 0.0) is not None, schedule.name  # fast path
        for costs in COSTS:
            if isinstance(costs.t_f, list):
                costs = CostModel(*(c[:schedule.p] for c in (costs.t_f, costs.t_b, costs.t_w)),
                                  latency_s=costs.latency_s)
            assert _fingerprint(simulate(schedule, costs)) == \
                _fingerprint(simulate_reference(schedule, costs)), (schedule.name, schedule.p,
                                                                    schedule.m, schedule.v, costs)
        compared.add((schedule.name, schedule.split_backward, schedule.v))
    assert {name for name, _, _ in compared} == set(SCHEDULE_NAMES)
    assert any(split for _, split, _ in compared) and any(v == 3 for _, _, v in compared)


def test_fast_path_at_the_benchmark_size():
    schedule = build_schedule("1f1b", 64, 128)
    costs = CostModel(1, 2, 0.5, latency_s=0.1)
    assert _fingerprint(simulate(schedule, costs)) == \
        _fingerprint(simulate_reference(schedule, costs))


def _broken():
    """Schedules the fast path must refuse: each answered by the reference."""
    good = build_schedule("1f1b", 3, 4)
    twice = [list(r) for r in good.ranks]
    twice[1].append(twice[1][0])
    out_of_range = [list(r) for r in good.ranks]
    out_of_range[2][0] = Action("F", 7)
    float_mb = [list(r) for r in good.ranks]
    float_mb[0][0] = Action("F", 0.0)
    swapped = [list(r) for r in good.ranks]  # B before its own F: a deadlock
    swapped[2][0], swapped[2][1] = swapped[2][1], swapped[2][0]
    missing = [list(r) for r in good.ranks]
    del missing[0][-1]
    for ranks in (twice, out_of_range, float_mb, swapped, missing):
        yield Schedule("1f1b", 3, 4, 1, ranks)


@pytest.mark.parametrize("index", range(5))
def test_broken_schedules_answer_as_the_reference(index):
    schedule = list(_broken())[index]
    try:
        want = _fingerprint(simulate_reference(schedule))
    except Deadlock as stuck:
        with pytest.raises(Deadlock) as info:
            simulate(schedule)
        assert (info.value.waiting, info.value.done) == (stuck.waiting, stuck.done)
        return
    assert _fingerprint(simulate(schedule)) == want


def test_validator_timeline_equals_the_blocking_reference():
    """The validator runs blocking receives with unit times on the same fast path."""
    from ppedu.schedules.validator import _run_blocking_reference, _Namer
    for schedule in _schedules():
        verdict = validate(schedule)
        problems, timeline = _run_blocking_reference(schedule, _Namer(schedule, False))
        assert verdict.ok and not problems
        assert verdict.timeline.events == timeline.events
        assert [verdict.timeline.busy(r) for r in range(schedule.p)] == \
            [timeline.busy(r) for r in range(schedule.p)]


def test_quick_completeness_agrees_with_the_full_check():
    """The validator's quick answer for well-formed schedules (``_complete``) never hides a
    problem the full check would name, and says "complete" whenever the full check finds none."""
    from ppedu.schedules.validator import _complete, _completeness_problems, _Namer
    short = build_schedule("zb1", 3, 4)
    no_w = Schedule("zb1", 3, 4, 1, [[a for a in r if a.kind != "W"] for r in short.ranks], True)
    candidates = [*_schedules(), *_broken(), no_w]
    for schedule in candidates:
        program = compiled.compile_schedule(schedule, 0.0)
        full = _completeness_problems(schedule, _Namer(schedule, False))
        assert _complete(schedule, program) == (not full), (schedule.name, full[:1])
    assert sum(not _complete(s, compiled.compile_schedule(s, 0.0)) for s in candidates) >= 4
