"""The step breakdown and the calibrated cost model (ppedu.training.calibration).

On a hand-made timeline every number is known, so calibrate() must find them exactly and the
simulator fed the calibration must replay the step to the microsecond. On the timed workload
(fixed waits, faithful on any CPU) the parts must add up to each rank's step and the compute
must be the configured time.
"""

from __future__ import annotations

import pytest

from ppedu.schedules import build_schedule
from ppedu.schedules.simulator import CostModel
from ppedu.schedules.timeline import Event, Timeline
from ppedu.training.calibration import breakdown, calibrate, calibrated_costs, replays
from ppedu.training.engine import train

MS = 1e-3


def _gpipe_p2_m2() -> Timeline:
    """GPipe p=2 m=2 by hand: F 10 ms, B 20 ms on both ranks, 1 ms of overhead before every
    action that follows another, a message takes 2 ms; rank 1 waits for each input."""
    ev = [Event(0, "F", 0, 0, 0, 10 * MS), Event(0, "F", 1, 0, 11 * MS, 21 * MS)]
    # rank 1: input of mb 0 arrives at 12, of mb 1 at 23 (2 ms after rank 0's F ends)
    ev += [Event(1, "recv", 0, 0, 0, 12 * MS), Event(1, "F", 0, 0, 12 * MS, 22 * MS),
           Event(1, "recv", 1, 0, 22 * MS, 23 * MS), Event(1, "F", 1, 0, 23 * MS, 33 * MS),
           Event(1, "B", 0, 0, 34 * MS, 54 * MS), Event(1, "B", 1, 0, 55 * MS, 75 * MS)]
    # rank 0: gradient of mb 0 arrives at 56, of mb 1 at 77
    ev += [Event(0, "recv", 0, 0, 21 * MS, 56 * MS), Event(0, "B", 0, 0, 56 * MS, 76 * MS),
           Event(0, "recv", 1, 0, 76 * MS, 77 * MS), Event(0, "B", 1, 0, 77 * MS, 97 * MS)]
    return Timeline(ev, 2)


def test_calibrate_reads_compute_overhead_and_messages_off_the_timeline():
    tl, sched = _gpipe_p2_m2(), build_schedule("gpipe", 2, 2)
    cal = calibrate([tl], sched)
    assert cal.compute_s["F"] == pytest.approx([10 * MS, 10 * MS])
    assert cal.compute_s["B"] == pytest.approx([20 * MS, 20 * MS])
    # rank 0: F1 after 1 ms, B0 and B1 right after their waits; rank 1: B0, B1 after 1 ms
    assert cal.overhead_s["F"] == pytest.approx([0.5 * MS, 0.0])
    assert cal.overhead_s["B"] == pytest.approx([0.0, 1 * MS])
    # the receives that were waiting when their producer finished: rank 1's F0, rank 0's B0
    assert cal.message_s == pytest.approx(2 * MS) and cal.message_samples == 2


def test_the_calibrated_simulator_replays_the_hand_made_step():
    tl, sched = _gpipe_p2_m2(), build_schedule("gpipe", 2, 2)
    errors = [r.error for r in replays([tl], sched, CostModel(), fallback_message_s=0.0)]
    assert errors == [pytest.approx(0.0, abs=0.02)]
    rows = breakdown(tl, calibrate([tl], sched))
    for row in rows:  # the four parts are the whole step
        parts = row.compute_s + row.overhead_s + row.messages_s + row.bubble_s
        assert parts == pytest.approx(tl.makespan)
    assert rows[1].messages_s == pytest.approx(3 * MS)  # 2 ms of the first wait, 1 of the second
    assert rows[1].bubble_s == pytest.approx(tl.makespan - 60 * MS - 2 * MS - 3 * MS)


def test_calibrated_costs_charge_each_rank_its_own_share():
    gpipe = build_schedule("gpipe", 2, 2)
    costs = calibrated_costs(CostModel(bandwidth_Bps=1e9, message_bytes=1e6), calibrate([_gpipe_p2_m2()], gpipe),
                             gpipe, fallback_message_s=9.0)
    assert costs.t_f == pytest.approx([10.5 * MS, 10 * MS])
    assert costs.t_b == pytest.approx([20 * MS, 21 * MS])
    assert costs.message_time() == pytest.approx(2 * MS)  # measured, bandwidth included


@pytest.mark.ranks
def test_timed_workload_breakdown_adds_up(cluster2):
    result = train(schedule="1f1b", p=2, m=4, tf_ms=20, tb_ms=20, steps=2, group=cluster2)
    cal = result.calibration
    for rank in range(2):  # a timed action sleeps its 20 ms (plus the OS's wake-up latency)
        assert 0.019 <= cal.compute_s["F"][rank] < 0.030
        assert 0.019 <= cal.compute_s["B"][rank] < 0.030
    for row in result.breakdown:
        parts = row.compute_s + row.overhead_s + row.messages_s + row.bubble_s
        assert parts == pytest.approx(result.timeline.makespan, rel=1e-6)
        assert row.compute_s == pytest.approx(result.timeline.busy(row.rank), rel=1e-6)
    summary = result.summary()
    assert len(summary["breakdown"]) == 2 and summary["calibration"]["message_samples"] >= 1


@pytest.mark.ranks
def test_the_replay_measures_the_cores_the_ranks_had(cluster4):
    result = train(schedule="1f1b", p=4, m=4, workload="model", steps=3, group=cluster4)
    shared = result.calibration.effective_cores
    assert 0.0 < shared <= 4.0  # CPU ranks measure their thread clocks: at most a core each
    assert result.summary()["calibration"]["effective_cores"] == shared
    assert -1.0 < result.simulation_error < 10.0  # a replay happened (a makespan, not a crash)
