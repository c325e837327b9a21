"""The simulator agrees with the closed forms, and its metrics mean what they say."""

import json

import pytest

from ppedu.errors import UsageError
from ppedu.schedules import theory
from ppedu.schedules.actions import SCHEDULE_NAMES
from ppedu.schedules import build_schedule
from ppedu.schedules.simulator import CostModel, Deadlock, run_task_lists, simulate
from ppedu.schedules.timeline import Event, Timeline


SPLIT = ("zb1", "zb2", "interleaved-zb", "zbv", "dualpipev")  # T_W matters: T_F = T_B = T_W
CHUNKS = {"interleaved": [2, 3, 4], "looped-bfs": [2, 3], "interleaved-zb": [2, 3]}
SMALLEST_M = {"zbv": lambda p: 2 * p - 1, "dualpipev": lambda p: 2 * p}  # else m >= p


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
@pytest.mark.parametrize("cost", [1.0, 2.5])
def test_simulator_equals_theory_on_grid(name, cost):
    costs = CostModel(t_f=cost, t_b=cost, t_w=cost if name in SPLIT else 0.0)
    compared = 0
    for p in range(1, 9):
        for m in range(max(p, SMALLEST_M.get(name, lambda p: 1)(p)), 33):
            for v in CHUNKS.get(name, [1]):
                try:
                    schedule = build_schedule(name, p, m, v)
                except UsageError:  # torch's rounds rule
                    continue
                result = simulate(schedule, costs)
                expected = theory.theory_bubble(name, p, m, v, costs)
                assert result.bubble_fraction == pytest.approx(expected, abs=1e-12), (p, m, v)
                for rank in range(p):
                    assert result.peak_inflight[rank] == theory.peak_activations(
                        name, p, m, rank, schedule.v), (p, m, v, rank)
                compared += 1
    assert compared >= 150


def test_equal_costs_zero_bubble_family_far_below_1f1b():
    """T_F = T_B = T_W, p = 4, m = 8: ZB-H1 is a third of 1F1B's bubble time, ZB-V and ZB1P
    (v = 2) a sixth; ZB-H2 within one flushed step is no better than ZB-H1."""
    costs, p, m = CostModel(1, 1, 1), 4, 8
    bubble = {name: simulate(build_schedule(name, p, m, 2 if name in CHUNKS else 1), costs)
              for name in ("1f1b", "zb1", "zb2", "zbv", "interleaved-zb")}
    per_rank_idle = {name: r.makespan - 3 * m for name, r in bubble.items()}
    assert per_rank_idle == {"1f1b": 9, "zb1": 3, "zb2": 3, "zbv": 1.5, "interleaved-zb": 1.5}
    assert bubble["zbv"].bubble_fraction < bubble["1f1b"].bubble_fraction / 4


@pytest.mark.parametrize("tf, tb", [(1, 1), (1, 2), (2, 0.5)])
def test_gpipe_and_1f1b_makespan_and_total_idle(tf, tb):
    for name in ("gpipe", "1f1b"):
        for p, m in [(2, 3), (4, 4), (4, 9), (7, 16)]:
            r = simulate(build_schedule(name, p, m), CostModel(t_f=tf, t_b=tb))
            assert r.makespan == pytest.approx(theory.min_makespan(p, m, tf, tb))
            assert sum(r.idle) == pytest.approx(theory.total_idle_time(p, tf, tb))


def test_memory_1f1b_first_rank_holds_p_gpipe_holds_m():
    p, m = 4, 16
    assert simulate(build_schedule("1f1b", p, m)).peak_inflight == [4, 3, 2, 1]
    assert simulate(build_schedule("gpipe", p, m)).peak_inflight == [m] * p
    assert max(simulate(build_schedule("zb1", p, m), CostModel(1, 1, 1)).peak_inflight) == p


def test_zb1_beats_1f1b_with_equal_costs():
    costs = CostModel(t_f=1, t_b=1, t_w=1)
    for p, m in [(2, 4), (4, 8), (8, 32)]:
        zb = simulate(build_schedule("zb1", p, m), costs)
        base = simulate(build_schedule("1f1b", p, m), costs)
        assert zb.bubble_fraction < base.bubble_fraction
        assert zb.makespan == 3 * m + p - 1  # bubble (p-1)(tf+tb-tw): a third of 1F1B's


def test_naive_bubble_independent_of_m():
    assert {simulate(build_schedule("naive", 4, m)).bubble_fraction for m in (1, 4, 9)} == {0.75}


def test_latency_delays_every_hop():
    base = simulate(build_schedule("gpipe", 4, 4)).makespan
    slow = simulate(build_schedule("gpipe", 4, 4), CostModel(latency_s=0.5)).makespan
    # the critical path crosses 3 links forwards and 3 backwards
    assert slow == pytest.approx(base + 6 * 0.5)
    bw = simulate(build_schedule("gpipe", 2, 1), CostModel(message_bytes=1e6, bandwidth_Bps=1e6))
    assert bw.makespan == pytest.approx(4 + 2)


def test_per_rank_costs_make_the_slow_stage_the_bottleneck():
    r = simulate(build_schedule("1f1b", 3, 12), CostModel(t_f=[1, 2, 1], t_b=[1, 2, 1]))
    assert r.idle[1] < r.idle[0] and r.makespan > 12 * 4


def test_deadlock_reported_by_event_loop():
    with pytest.raises(Deadlock) as info:
        run_task_lists([["a", "b"], ["c"]], lambda r, t: 1.0,
                       lambda r, t: {"a": [("c", 0)], "c": [("b", 0)]}.get(t, []))
    assert set(info.value.waiting) == {0, 1}


def test_timeline_metrics_and_chrome_trace(tmp_path):
    events = [Event(0, "F", 0, 0, 0.0, 1.0), Event(1, "F", 0, 0, 1.0, 2.0),
              Event(1, "recv", 0, 0, 0.0, 1.0), Event(1, "B", 0, 0, 2.0, 3.0),
              Event(0, "B", 0, 0, 3.0, 4.0)]
    tl = Timeline(events, 2)
    assert tl.makespan == 4.0 and tl.busy(1) == 2.0 and tl.idle(0) == 2.0
    assert tl.bubble_fraction() == pytest.approx(0.5)
    assert tl.peak_inflight(0) == 1
    path = tmp_path / "trace.json"
    tl.save_chrome_trace(str(path))
    trace = json.loads(path.read_text())["traceEvents"]
    names = {e["args"]["name"] for e in trace if e["ph"] == "M" and "name" in e["args"]}
    assert {"GPU 0", "GPU 1", "rank 0", "rank 1"} <= names
    boxes = [e for e in trace if e["ph"] == "X"]
    assert len(boxes) == 5 and boxes[-1]["ts"] == 3e6 and boxes[-1]["dur"] == 1e6


def test_text_gantt_rows_are_time_steps():
    gantt = simulate(build_schedule("gpipe", 2, 2)).timeline.text_gantt()
    rows = [line for line in gantt.splitlines() if line.startswith("| ") and "GPU" not in line]
    assert len(rows) == 6
    assert rows[0].split("|")[2].strip() == "F0" and rows[0].split("|")[3].strip() == "-"
    uneven = simulate(build_schedule("gpipe", 2, 2), CostModel(t_f=1.0, t_b=2.0))
    assert "B1" in uneven.timeline.text_gantt()
