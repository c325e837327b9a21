"""Chapter 1's panel callback, called directly on the shared 2-rank cluster (a tiny GPT: < 1 s a run)."""

from __future__ import annotations

import math

import pytest

from ppedu.errors import UsageError
from ppedu.notebook.widgets import tp as widgets_tp
from ppedu.notebook.widgets.panel import ERROR_PREFIX
from ppedu.model.gpt import GPTConfig
from ppedu.tensor_parallel.compare import Comparison, Measured, predict_comm_time, predict_step_time

SMALL = {"n": 2, "layers": 2, "hidden": 32, "heads": 4, "batch": 4, "seq": 16, "latency_ms": 4.0,
         "repeats": 1}


def comparison_result(layers: int = 2, n: int = 2, tp_collectives: int = 8, latency_ms: float = 0.0,
                      tp_step_s: float = 0.01, pp_step_s: float = 0.02) -> Comparison:
    """A Comparison as compare_tp_pp builds it, with the counters a test sets (no ranks run)."""
    config = GPTConfig(n_layer=layers, n_head=4, n_embd=32, block_size=16)

    def measured(tp, pp, collectives, step_s):
        return Measured(tp, pp, collectives, collectives, 0, 1000, 0.0, 0.0, step_s, 10, 10, [10] * n, [10] * n,
                        [0.0] * n, 1.0)
    return Comparison(n, config, 4, 16, 1, latency_ms, math.inf, 0.02, measured(n, 1, tp_collectives, tp_step_s),
                      measured(1, n, 0, pp_step_s), None, predict_comm_time(config, n, latency_ms),
                      predict_step_time(config, n, 0.02, latency_ms), None, None)


@pytest.fixture(scope="module")
def comparison(cluster2):
    return widgets_tp.run_comparison(SMALL, latencies=[0.0, 4.0], group=cluster2)


@pytest.mark.ranks
def test_figures_have_titles_axes_and_tp_pp_traces(comparison) -> None:
    figures, text = comparison
    assert len(figures) == 2
    for fig in figures:
        assert "n=2" in fig.layout.title.text and "2 layers" in fig.layout.title.text
        assert fig.layout.xaxis.title.text and fig.layout.xaxis2.title.text
        assert fig.layout.yaxis.title.text and fig.layout.yaxis2.title.text
        names = {t.name for t in fig.data}
        assert any(n.startswith("TP") for n in names) and any(n.startswith("PP") for n in names)
    bars, lines = figures
    assert "kB" in bars.layout.yaxis.title.text
    assert "(ms)" in lines.layout.xaxis.title.text and "(ms)" in lines.layout.yaxis.title.text
    # measured points beside the cost-model lines, in both panels
    assert {t.name for t in lines.data} == {"TP measured", "PP measured", "TP cost model",
                                            "PP cost model"}
    assert any("crossover" in a.text for a in lines.layout.annotations)
    assert "\n" not in text and "crossover: theory" in text


@pytest.mark.ranks
def test_bars_show_the_counted_bytes_and_messages(comparison) -> None:
    bars = comparison[0][0]
    tp = [t for t in bars.data if t.name == "TP"]
    pp = [t for t in bars.data if t.name == "PP"]
    # measured == cost model for the counts; TP moves 4L = 8x the bytes of PP (on the wire)
    for t in tp + pp:
        assert t.y[0] == pytest.approx(t.y[1])
    assert tp[0].y[0] == pytest.approx(8 * pp[0].y[0])
    assert (tp[1].y[0], pp[1].y[0]) == (8, 2)             # 4 all-reduces x 2 layers vs 2 sends


@pytest.mark.ranks
def test_latency_points_move_the_right_way(comparison) -> None:
    lines = comparison[0][1]
    comm = next(t for t in lines.data if t.name == "TP measured" and t.xaxis == "x")
    step = next(t for t in lines.data if t.name == "TP measured" and t.xaxis == "x2")
    assert list(comm.x) == list(step.x) == [0.0, 4.0]
    # the comm panel includes the emulated delay: 8 all-reduces, each waits 4 ms
    assert comm.y[1] >= 0.99 * 8 * 4.0 and comm.y[1] > comm.y[0]
    # the step time also grows; loosely, since a loaded CPU adds noise to the 0 ms step
    assert step.y[1] - step.y[0] >= 0.5 * 8 * 4.0


@pytest.mark.parametrize("values, message", [
    ({"hidden": 30}, "hidden must be a multiple of heads=4 (got 30)"),
    ({"n": 3}, "heads=4 must be divisible by n=3"),
    ({"layers": 1}, "layers must be >= n=2"),
    ({"latency_ms": -1}, "link latency (ms) must be a number in 0.0..100.0"),
    ({"bandwidth_gbps": "fast"}, "bandwidth (GB/s, 0 = unlimited) must be a number"),
    ({"hiden": 32}, "unknown setting(s) hiden"),
])
def test_bad_values_come_back_as_one_line(values, message) -> None:
    figures, text = widgets_tp.run_comparison({**SMALL, **values})    # fails before any rank runs
    assert figures == []
    assert text.startswith(ERROR_PREFIX) and message in text and "\n" not in text


@pytest.mark.parametrize("typed", [True, False], ids=["result", "json"])
def test_allreduce_grader_checks_against_the_counters(typed: bool) -> None:
    measured = comparison_result(layers=3, n=2, tp_collectives=12)
    if not typed:
        measured = measured.to_json()          # `ppedu compare-tp-pp --json`'s object: the same grade
    widgets_tp.check_allreduces_per_step(lambda L, tp: 4 * L if tp > 1 else 0, measured)
    with pytest.raises(AssertionError, match="counted 12"):
        widgets_tp.check_allreduces_per_step(lambda L, tp: 2 * L, measured)
    with pytest.raises(AssertionError, match="tp=1"):
        widgets_tp.check_allreduces_per_step(lambda L, tp: 4 * L, measured)
    with pytest.raises(UsageError, match="has no tp.collectives"):
        widgets_tp.check_allreduces_per_step(lambda L, tp: 0, {"layers": 3, "n": 2})


def test_measured_crossover_interpolates() -> None:
    def run(lat, tp_ms, pp_ms):
        return comparison_result(latency_ms=lat, tp_step_s=tp_ms / 1e3, pp_step_s=pp_ms / 1e3)
    assert widgets_tp.measured_crossover_ms([run(0, 10, 20), run(2, 30, 20)]) == pytest.approx(1.0)
    assert widgets_tp.measured_crossover_ms([run(0, 10, 20), run(2, 12, 20)]) is None
    assert widgets_tp.measured_crossover_ms([run(0, 30, 20), run(2, 50, 20)]) == 0.0


@pytest.mark.ranks
def test_mesh_gradients_match_reference(cluster4) -> None:
    config = GPTConfig(n_layer=2, n_head=4, n_embd=32, block_size=16)
    check = widgets_tp.mesh_gradients_match(config, 2, 2, 4, 16, microbatches=2, group=cluster4)
    assert check.ok and check.max_abs_diff < 1e-4
    assert check.mesh_loss == pytest.approx(check.reference_loss, rel=1e-5)
    assert [r.all_reduces for r in check.ranks] == [8, 8, 8, 8]   # 1 block x 4 x 2 micro-batches
    assert [r.p2p_sends for r in check.ranks] == [2, 2, 2, 2]


def test_a_mesh_that_does_not_cover_the_group_fails_before_any_rank_runs() -> None:
    class NoRanks:                    # a group whose run must never be reached
        world_size = 4

        def run(self, *args, **kwargs):
            raise AssertionError("ranks started")
    config = GPTConfig(n_layer=2, n_head=4, n_embd=32, block_size=16)
    with pytest.raises(UsageError, match=r"tp x pp must equal the 4 ranks \(got 2 x 1\)"):
        widgets_tp.mesh_gradients_match(config, 2, 1, 4, 16, group=NoRanks())
    with pytest.raises(UsageError, match=r"n_head=4 must be divisible by tp=3"):
        widgets_tp.mesh_gradients_match(config, 3, 1, 4, 16, group=NoRanks())
