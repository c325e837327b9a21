"""ZB-H2 (``zb2``) for any costs: the handcrafted order where it reaches the lower bound (equal
costs), a list schedule within the 2p-1 memory limit where that is shorter; always valid, never
slower than the handcrafted order, never below the bound; and chapter 4 quotes what ppedu says."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from ppedu.cli import main as cli
from ppedu.schedules import theory
from ppedu.schedules import build_schedule
from ppedu.schedules.actions import Schedule
from ppedu.schedules.builders import _zb2_rank
from ppedu.schedules.greedy import list_schedule
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.schedules.validator import validate

ROOT = Path(__file__).resolve().parents[2]
PAPER = (1.0, 1.5, 0.5)     # T_F, T_B, T_W: the Zero Bubble paper's ordering T_W < T_F < T_B
COSTS = [PAPER, (1.0, 2.0, 1.0), (1.0, 1.2, 0.8), (2.0, 1.0, 0.5), (1.0, 1.0, 0.0), (1.0, 1.0, 1.0)]


def _handcrafted(p: int, m: int) -> list:
    return [_zb2_rank(p, m, 1, r) for r in range(p)]


def _step(ranks: list, p: int, m: int, costs: CostModel) -> float:
    return simulate(Schedule("zb2", p, m, 1, ranks, split_backward=True), costs).makespan


def test_paper_costs_beat_zb1_within_one_flushed_step():
    """p = 4, m = 8, T_F : T_B : T_W = 1 : 1.5 : 0.5: ZB-H1 runs its closed-form step, ZB-H2
    ordered for the costs a clearly shorter one, and no order runs below the bound."""
    p, m, costs = 4, 8, CostModel(*PAPER)
    zb1 = simulate(build_schedule("zb1", p, m), costs)
    zb2 = simulate(build_schedule("zb2", p, m, costs=costs), costs)
    bound = theory.min_makespan_split(p, m, *PAPER)
    assert zb1.makespan == theory.makespan_zb1(p, m, *PAPER)
    assert bound <= zb2.makespan < zb1.makespan - (zb1.makespan - bound) / 2
    assert zb2.bubble_fraction >= theory.min_bubble_split(p, m, *PAPER)
    assert max(zb2.peak_inflight) == 2 * p - 1
    # the handcrafted order (today's zb2 before it was ordered for the costs) is ZB-H1's step
    assert _step(_handcrafted(p, m), p, m, costs) == zb1.makespan


@pytest.mark.parametrize("costs", COSTS, ids=str)
def test_valid_within_memory_never_worse_on_grid(costs):
    model = CostModel(*costs)
    for p in range(1, 9):
        for m in range(1, 17):
            schedule = build_schedule("zb2", p, m, costs=model)
            verdict = validate(schedule)
            assert verdict.ok, (costs, p, m, verdict.message)
            result = simulate(schedule, model)
            assert max(result.peak_inflight) <= 2 * p - 1, (costs, p, m)
            assert result.makespan >= theory.min_makespan_split(p, m, *costs) * (1 - 1e-12)
            assert result.makespan <= _step(_handcrafted(p, m), p, m, model), (costs, p, m)


def test_equal_costs_keep_the_handcrafted_order():
    """T_F = T_B = T_W: the order is today's handcrafted ZB-H2, which reaches the bound for
    m >= p (so nothing could beat it) and is kept for m < p too (the list schedule is no shorter)."""
    for p in range(1, 9):
        for m in range(1, 17):
            want = _handcrafted(p, m)
            for costs in (None, CostModel(1, 1, 1), CostModel(2.5, 2.5, 2.5)):
                assert build_schedule("zb2", p, m, costs=costs).ranks == want, (p, m, costs)
            if m >= p:
                assert _step(want, p, m, CostModel(1, 1, 1)) == theory.min_makespan_split(p, m, 1, 1, 1)


def test_list_schedule_follows_its_rules():
    """Every rank runs each kind in micro-batch order, holds at most the cap, and the first
    actions are what 'earliest start, B before F before W' gives."""
    p, m = 4, 8
    ranks = list_schedule(p, m, [1.0] * p, [1.5] * p, [0.5] * p, cap=3)
    for row in ranks:
        for kind in "FBW":
            assert [a.mb for a in row if a.kind == kind] == list(range(m))
    assert max(simulate(Schedule("g", p, m, 1, ranks, split_backward=True),
                        CostModel(*PAPER)).peak_inflight) == 3
    # the last rank: B0 as soon as F0 is done; then F1 and W0 could both start: F first
    assert [str(a) for a in ranks[p - 1][:3]] == ["F0", "B0", "F1"]


def test_costs_reach_the_ranks_order():
    """Per-rank costs and message time change the order (the list scheduler sees them)."""
    base = build_schedule("zb2", 4, 8, costs=CostModel(*PAPER))
    slow_last = build_schedule("zb2", 4, 8, costs=CostModel([1, 1, 1, 2], 1.5, 0.5))
    assert validate(slow_last).ok and slow_last.ranks != base.ranks
    assert validate(build_schedule("zb2", 4, 8, costs=CostModel(*PAPER, latency_s=0.3))).ok


def test_order_does_not_depend_on_the_time_unit():
    """1 : 1.5 : 0.5 in units or in 15 ms: the same order (float rounding is no tie-breaker), so
    the ranks of a timed run execute the order the chapter's table simulates."""
    for p in range(1, 9):
        for m in range(1, 17):
            for costs in COSTS[:4]:
                units = build_schedule("zb2", p, m, costs=CostModel(*costs))
                ms = build_schedule("zb2", p, m, costs=CostModel(*(0.015 * c for c in costs)))
                assert units.ranks == ms.ranks, (p, m, costs)


def _run_cli(args: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli(args) == 0
    return out.getvalue()


def test_cli_reports_the_bound_and_no_closed_form_peak():
    args = ["simulate", "--schedule", "zb2", "-p", "4", "-m", "8", "--tf", "1", "--tb", "1.5",
            "--tw", "0.5", "--json"]
    report = json.loads(_run_cli(args))
    assert report["bubble_lower_bound"] == theory.min_bubble_split(4, 8, *PAPER)
    assert report["theory_bubble_fraction"] is None and report["theory_peak_inflight_microbatches"] is None
    assert report["makespan"] < theory.makespan_zb1(4, 8, *PAPER)


def _chapter() -> str:
    return (ROOT / "course" / "04_1f1b.md").read_text(encoding="utf-8")


def test_chapter_quotes_the_simulate_output():
    """The fenced block that starts with the command shows its output as printed: the lines
    before '...' begin it, the lines after end it (the Gantt chart is left out)."""
    command = "ppedu simulate --schedule zb2 -p 4 -m 8 --tf 1 --tb 1.5 --tw 0.5"
    block = re.search(r"```text\n" + re.escape(command) + r"\n(.*?)\n```", _chapter(), re.S)
    assert block, "chapter 4 must show the zb2 simulate example with its output"
    head, tail = (part.splitlines() for part in block.group(1).split("\n...\n"))
    printed = _run_cli(command.split()[1:]).splitlines()
    assert printed[:len(head)] == head and printed[-len(tail):] == tail


def test_chapter_table_is_what_the_code_computes():
    from ppedu.training.frontier import costs_table
    block = re.search(r"<!-- computed: costs_table\(4, 8\) -->\n(.*?)\n<!-- /computed -->",
                      _chapter(), re.S)
    assert block and block.group(1) == costs_table(4, 8)


def test_chapter_restricts_the_claim_to_equal_costs():
    text = re.sub(r"\s+", " ", _chapter())
    assert "With $T_F = T_B = T_W = T$ and $m \\ge p$ it cannot beat ZB-H1's" in text
    assert "That argument needs equal costs." in text
    assert "_figures/ch4_frontier_unequal.html" in text


@pytest.mark.ranks
@pytest.mark.slow
def test_timed_ranks_run_the_order_built_for_their_costs(cluster4):
    """On real ranks (timed workload, 1 : 1.5 : 0.5) each rank runs the list-scheduled order."""
    from ppedu.training.engine import TrainConfig, train
    cfg = TrainConfig("zb2", 4, 8, workload="timed", tf_ms=4, tb_ms=6, tw_ms=2)
    result = train(cfg, group=cluster4)
    want = result.config.built_schedule
    assert want.ranks != _handcrafted(4, 8)
    for rank in range(4):
        ran = sorted((e for e in result.timeline.events if e.rank == rank and e.kind in "FBW"),
                     key=lambda e: e.start)
        assert [f"{e.kind}{e.mb}" for e in ran] == [str(a) for a in want.ranks[rank]]
    assert max(r.peak_inflight_microbatches for r in result.per_rank) <= 7


def test_unequal_frontier_shows_zb2_ahead_of_zb1():
    """The frontier at 1 : 1.5 : 0.5 (simulated side; the book measures it too): its title names
    the costs and ZB-H2 sits below ZB-H1 on the bubble axis, above it on memory."""
    from ppedu.instructor.book.figures import FIGURES
    from ppedu.notebook.plots.frontier import frontier as draw
    from ppedu.training.frontier import SCHEDULES, UNEQUAL, simulated_point
    points = {name: simulated_point(name, 4, 8, v, costs=UNEQUAL) for name, v in SCHEDULES}
    assert points["zb2"].simulated_bubble < points["zb1"].simulated_bubble
    assert points["zb2"].simulated_peak > points["zb1"].simulated_peak
    for pt in points.values():
        pt.measured_bubble, pt.measured_peak = pt.simulated_bubble, pt.simulated_peak
        pt.measured_messages = pt.simulated_messages
    assert "T_F : T_B : T_W = 1 : 1.5 : 0.5" in draw(list(points.values())).layout.title.text
    figure = next(f for f in FIGURES if f.name == "ch4_frontier_unequal")
    assert figure.page == "04_1f1b" and "--tf 15 --tb 22.5 --tw 7.5" in figure.command
