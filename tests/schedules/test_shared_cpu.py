"""Ranks sharing fewer cores than there are ranks (ppedu.schedules.shared_cpu and the replay in
ppedu.training.calibration): processor sharing worked out by hand, and with a core per rank
exactly what the simulator computes."""

from __future__ import annotations

import pytest

from ppedu.schedules import shared_cpu
from ppedu.schedules.actions import rank_tasks
from ppedu.schedules import build_schedule
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.schedules.timeline import Event, Timeline
from ppedu.training.calibration import effective_cores, replay_shared


def _independent(work: list[float], cores: float) -> dict:
    """One task per rank, nobody waits for anybody."""
    return shared_cpu.replay([[("F", r, 0)] for r in range(len(work))], lambda key: [],
                             lambda r, key: work[r], lambda r, dep: 0.0, cores)


def test_processor_sharing_by_hand():
    # 2 ranks, 1 core: both run at 1/2 until rank 0's 1 s of work is done at t=2; rank 1 then
    # has 2 s left alone at full speed: it ends at 4
    done = _independent([1.0, 3.0], cores=1)
    assert done[("F", 0, 0)] == (0, 0.0, pytest.approx(2.0))
    assert done[("F", 1, 0)] == (1, 0.0, pytest.approx(4.0))
    # a core per rank: nobody is slowed down
    assert _independent([1.0, 3.0], cores=2)[("F", 1, 0)][2] == pytest.approx(3.0)


@pytest.mark.parametrize("name", ["gpipe", "1f1b", "zb1", "interleaved"])
def test_with_a_core_per_rank_it_is_the_simulator(name):
    sched = build_schedule(name, 4, 8, 2 if name == "interleaved" else 1)
    costs = CostModel(t_f=[1.0, 1.2, 0.9, 1.1], t_b=2.0, t_w=0.5 if name == "zb1" else 0.0,
                      latency_s=0.05)
    expected = simulate(sched, costs).makespan
    sim = simulate(sched, costs).timeline
    duration = {(e.kind, sched.stage_of(e.rank, e.chunk), e.mb): e.end - e.start for e in sim.events}
    tasks = [rank_tasks(sched, r) for r in range(4)]
    needs = {key: deps for rank_list in tasks for key, deps in rank_list}
    done = shared_cpu.replay([[k for k, _ in t] for t in tasks], lambda k: needs.get(k, []),
                             lambda r, k: duration[k],
                             lambda r, dep: 0.0 if sched.place_of(dep[1])[0] == r else 0.05, 4)
    assert max(end for _, _, end in done.values()) == pytest.approx(expected)


def _two_ranks_busy_together() -> Timeline:
    """Rank 0 computes F0 over [0, 2], rank 1 waits, then computes F0 over [0.5, 2.5]."""
    return Timeline([Event(0, "F", 0, 0, 0.0, 2.0), Event(1, "recv", 0, 0, 0.0, 0.5),
                     Event(1, "F", 0, 0, 0.5, 2.5)], 2)


def test_work_is_read_off_the_busy_profile():
    tl = _two_ranks_busy_together()
    profile = shared_cpu.busy_profile(tl)
    assert profile == [(0.0, 1), (0.5, 2), (2.0, 1), (2.5, 0)]
    # on 1 core rank 0 had it alone for 0.5 s, then half of it for 1.5 s
    assert shared_cpu.work_in(profile, 0.0, 2.0, cores=1) == pytest.approx(0.5 + 0.75)


def test_effective_cores_are_the_ones_that_hand_out_the_measured_cpu():
    tl = _two_ranks_busy_together()
    # 2 cores would give each rank all of its 2 s; the clocks say 1.25 + 1.25: one core
    assert effective_cores(tl, [1.25, 1.25]) == pytest.approx(1.0, abs=1e-3)
    assert effective_cores(tl, [2.0, 2.0]) == 2.0  # a core each: never more than p


def test_shared_replay_of_a_hand_made_step_on_one_core():
    # GPipe p=2 m=1: rank 0's F (work 1) then rank 1's F and B; nothing overlaps, so the step
    # replays at full speed even on one core, and its makespan is the measured one
    tl = Timeline([Event(0, "F", 0, 0, 0.0, 1.0), Event(1, "recv", 0, 0, 0.0, 1.0),
                   Event(1, "F", 0, 0, 1.0, 2.0), Event(1, "B", 0, 0, 2.0, 4.0),
                   Event(0, "recv", 0, 0, 1.0, 4.0), Event(0, "B", 0, 0, 4.0, 6.0)], 2)
    assert replay_shared(tl, build_schedule("gpipe", 2, 1), 0.0, cores=1).makespan == pytest.approx(6.0)
