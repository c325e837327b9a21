"""The chapter-4 frontier: messages per step follow the placement, measured equals simulated where
nothing is timed (messages, peaks), and the figure says what it shows."""

import pytest

from ppedu.schedules import build_schedule
from ppedu.schedules.simulator import CostModel
from ppedu.training.config import TrainConfig
from ppedu.training.frontier import EQUAL, SCHEDULES, UNEQUAL, frontier, frontier_table, \
    messages_per_step, simulated_point


@pytest.mark.parametrize("p,m", [(2, 4), (4, 8), (8, 16)])
def test_messages_per_step_follow_the_placement(p, m):
    # every stage border is crossed twice per micro-batch (activation, gradient), except the
    # V's turn on the last rank, which stays on that rank
    assert messages_per_step(build_schedule("1f1b", p, m)) == 2 * (p - 1) * m
    assert messages_per_step(build_schedule("interleaved", p, m, 2)) == 2 * (2 * p - 1) * m
    assert messages_per_step(build_schedule("zbv", p, m)) == 2 * (2 * p - 2) * m
    assert messages_per_step(build_schedule("dualpipev", p, m)) == 2 * (2 * p - 2) * m


def test_simulated_frontier_has_no_free_lunch():
    points = {name: simulated_point(name, 4, 8, v) for name, v in SCHEDULES}
    lowest = min(points.values(), key=lambda pt: pt.simulated_bubble)
    assert lowest.schedule in ("interleaved-zb", "zbv")
    # the lowest bubble pays in messages: more than 1F1B's
    assert lowest.simulated_messages > points["1f1b"].simulated_messages
    assert points["zb2"].simulated_peak == 7 and points["zbv"].simulated_peak == 4


def test_frontier_figure_says_what_it_shows():
    from ppedu.notebook.plots.frontier import frontier as draw
    points = [simulated_point(name, 4, 8, v) for name, v in SCHEDULES]
    for pt in points:
        pt.measured_bubble, pt.measured_peak = pt.simulated_bubble, pt.simulated_peak
        pt.measured_messages = pt.simulated_messages
    fig = draw(points, with_table=True)
    assert "p=4, m=8" in fig.layout.title.text
    assert "peak activations" in fig.layout.xaxis.title.text
    assert "messages" in fig.layout.xaxis2.title.text and "%" in fig.layout.yaxis.title.text
    assert sum(1 for t in fig.data if getattr(t, "showlegend", False)) == len(SCHEDULES)
    assert fig.data[-1].type == "table"


@pytest.mark.ranks
def test_measured_frontier_counts_equal_the_simulated(cluster2):
    points = frontier(2, 4, 5.0, group=cluster2,
                      schedules=(("1f1b", 1), ("interleaved", 2), ("zbv", 2), ("dualpipev", 2)))
    for pt in points:
        assert pt.measured_messages == pt.simulated_messages, pt.schedule
        assert pt.measured_peak == pt.simulated_peak, pt.schedule
        assert 0 <= pt.measured_bubble < 1
    assert "| zbv |" in frontier_table(points)


@pytest.mark.parametrize("costs", [EQUAL, UNEQUAL])
def test_the_measured_runs_schedule_is_the_simulated_ones(costs):
    """``frontier`` simulates the schedule the run's spec built (not a second one): for every
    schedule, zb2's cost-ordered one included, it is the one ``simulated_point`` would build."""
    for name, v in SCHEDULES:
        cfg = TrainConfig(name, 4, 8, v=v, workload="timed", tf_ms=10 * costs[0], tb_ms=10 * costs[1],
                          tw_ms=10 * costs[2])
        built = build_schedule(name, 4, 8, cfg.v, CostModel(*costs))
        assert (cfg.built_schedule.name, cfg.built_schedule.v) == (name, cfg.v)
        assert cfg.built_schedule.ranks == built.ranks, name
        reused, rebuilt = (simulated_point(name, 4, 8, cfg.v, costs=costs, schedule=s)
                           for s in (cfg.built_schedule, None))
        simulated = ("simulated_bubble", "simulated_peak", "simulated_messages", "step_time_s")
        assert [getattr(reused, k) for k in simulated] == [getattr(rebuilt, k) for k in simulated], name
