"""Widget callbacks, called directly (an exception inside a button handler never fails a cell).

They run on the shared 2-rank cluster with the timed workload: each call takes well under a second.
"""

from __future__ import annotations

import re

import pytest

from ppedu.notebook.widgets import training as widgets
from ppedu.notebook.widgets.panel import ERROR_PREFIX
from ppedu.training.engine import TrainConfig, train
from ppedu.schedules.theory import bubble_gpipe

FAST = {"p": 2, "m": 4, "tf_ms": 15.0, "tb_ms": 15.0}


def bubble_in(text: str) -> float:
    match = re.search(r"measured bubble (\d\.\d{3})", text)
    assert match, f"no measured bubble in {text!r}"
    return float(match.group(1))


@pytest.mark.ranks
def test_run_training_returns_titled_figures_and_a_summary(cluster2) -> None:
    figures, text = widgets.run_training(FAST, group=cluster2)
    gantt, memory = figures
    for fig in figures:
        assert fig.layout.title.text and "p=2, m=4" in fig.layout.title.text
    assert "(ms)" in gantt.layout.xaxis2.title.text
    ranks = {y for t in gantt.data for y in t.y}
    assert ranks == {"GPU 0", "GPU 1"}
    assert {t.xaxis for t in gantt.data} == {"x", "x2"}      # measured and simulated
    assert memory.layout.yaxis.title.text.startswith("peak activations held")
    assert len(memory.data[0].y) == 2
    assert "\n" not in text and "theory 0.200" in text and "simulated" in text
    assert bubble_in(text) == pytest.approx(bubble_gpipe(2, 4), abs=0.08)


@pytest.mark.ranks
def test_more_micro_batches_change_the_summary(cluster2) -> None:
    _, few = widgets.run_training({**FAST, "m": 1}, group=cluster2)
    _, many = widgets.run_training({**FAST, "m": 8}, group=cluster2)
    assert bubble_in(few) > bubble_in(many) + 0.2          # 0.5 vs 0.11 in theory
    assert "m=1" in few and "m=8" in many


@pytest.mark.parametrize("values, message", [
    ({"schedule": "interleaved", "v": 2, "m": 5}, "m must be a multiple of max(1, m // p) = 2"),
    ({"p": 0}, "p must be an integer in 1..16 (got 0)"),
    ({"workload": "gpu"}, "workload must be one of timed, model"),
    ({"tf_ms": -1}, "tf_ms must be a number"),
    ({"mm": 3}, "unknown setting(s) mm"),
])
@pytest.mark.ranks
def test_bad_values_come_back_as_one_line(values, message, cluster2) -> None:
    figures, text = widgets.run_training({**FAST, **values}, group=cluster2)
    assert figures == []
    assert text.startswith(ERROR_PREFIX) and message in text and "\n" not in text


@pytest.mark.ranks
def test_p_must_match_the_cluster(cluster2) -> None:
    figures, text = widgets.run_training({**FAST, "p": 3}, group=cluster2)
    assert figures == [] and "p=3 must equal the cluster's world size 2" in text


@pytest.mark.ranks
def test_bubble_sweep_reports_progress_and_follows_theory(cluster2) -> None:
    calls = []
    figures, text = widgets.run_bubble_sweep(FAST, "1, 2, 4", group=cluster2,
                                             progress=lambda d, n, r: calls.append((d, n, r.config.m)))
    assert calls == [(1, 3, 1), (2, 3, 2), (3, 3, 4)]
    (fig,) = figures
    measured = fig.data[1]
    assert list(measured.x) == [1, 2, 4]
    for m, b in zip(measured.x, measured.y):
        assert b == pytest.approx(bubble_gpipe(2, m), abs=0.08)
    assert text.count("measured") == 3
    assert widgets.run_bubble_sweep(FAST, "1, two", group=cluster2) == \
        ([], "⚠ m values must be whole numbers separated by commas (got '1, two')")


@pytest.mark.ranks
def test_latency_sweep_has_a_model_and_an_optimum(cluster2) -> None:
    figures, text = widgets.run_latency_sweep({**FAST, "latency_ms": 5.0}, [1, 4], batch_ms=40,
                                              group=cluster2)
    (fig,) = figures
    assert [t.name.split()[0] for t in fig.data] == ["measured", "model", "model"]
    assert "m* ≈ 2.0" in text                               # sqrt((2-1)*40/(2*5))
    _, bad = widgets.run_latency_sweep(FAST, [2], batch_ms=-1, group=cluster2)
    assert bad.startswith(ERROR_PREFIX) and "batch_ms" in bad


@pytest.mark.ranks
def test_summary_line_carries_notes(cluster2) -> None:
    result = train(TrainConfig(**FAST), group=cluster2)
    result.notes.append("4 ranks share fewer CPU cores")
    line = widgets.summary_line(result)
    assert line.startswith("1f1b p=2 m=4 (timed): measured bubble")
    assert line.endswith("— note: 4 ranks share fewer CPU cores")


@pytest.mark.ranks
def test_training_panel_runs_and_shows_errors_in_place(cluster2) -> None:
    panel = widgets.training_panel(group=cluster2, **FAST)
    assert set(panel.controls) == set(widgets.CONTROLS)
    assert "Press Run" in panel.summary.value
    panel.run()
    first = bubble_in(panel.summary.value)
    panel.controls["m"].value = 1
    panel.run()
    assert bubble_in(panel.summary.value) > first            # fewer micro-batches, bigger bubble
    panel.controls["schedule"].value = "interleaved"
    panel.controls["v"].value = 2
    panel.controls["m"].value = 5  # torch's rounds rule: 2 rounds of 2.5 micro-batches do not exist
    panel.run()
    assert "⚠" in panel.summary.value and "multiple of max(1, m // p)" in panel.summary.value
    with pytest.raises(widgets.UsageError, match="controls must be among"):
        widgets.training_panel(controls=("m", "colour"), group=cluster2)
    with pytest.raises(widgets.UsageError, match="m must be an integer"):
        widgets.training_panel(m=0)


@pytest.mark.ranks
def test_sweep_panel_has_an_editable_list_of_m(cluster2) -> None:
    panel = widgets.bubble_sweep_panel(ms=(1, 2), group=cluster2, **FAST)
    assert panel.controls["ms"].value == "1, 2"
    panel.controls["ms"].value = "2, 4"
    panel.run()
    assert "m=2: measured" in panel.summary.value and "m=4: measured" in panel.summary.value
    assert "m=1:" not in panel.summary.value


def test_panel_clears_the_previous_chart_after_a_bad_input() -> None:
    """A failed run leaves no chart under its error line: the old one would read as its result."""
    import ipywidgets as w
    from ppedu.notebook.widgets.panel import run_panel
    from ppedu.notebook.plots import training as plots

    control = w.IntText(2, description="m (micro-batches)")

    def action(values, _progress):
        if values["m"] < 1:
            return [], ERROR_PREFIX + "m must be an integer in 1..256 (got 0)"
        return [plots.line_chart({"x": ([1, 2], [1, 2])}, "t", "x", "y")], "ok"

    box = run_panel("test", {"m": control}, action, "test")
    box.run()
    assert "ok" in box.summary.value
    control.value = 0
    box.run()
    assert "m must be" in box.summary.value and box.output.outputs == ()


def test_shared_panel_helpers() -> None:
    from ppedu.errors import UsageError, check_names
    from ppedu.notebook.widgets.panel import label_style, number
    with pytest.raises(UsageError, match=r"^plan_panel: unknown setting\(s\) mm, pp; use p, m$"):
        check_names("plan_panel", {"pp": 2, "mm": 1, "m": 3}, ["p", "m"])
    check_names("plan_panel", {"m": 3}, ["p", "m"])
    assert number(None) == "n/a" and number(0.0123, ".0f", 1e3, " ms") == "12 ms"
    short, long = label_style(["p"]), label_style(["hidden (multiple of heads)"])
    assert int(long["description_width"][:-2]) >= 7 * len("hidden (multiple of heads)")
    assert int(short["description_width"][:-2]) < int(long["description_width"][:-2])
