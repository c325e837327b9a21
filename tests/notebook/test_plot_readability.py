"""Plots that say what the text says, readably (issue 23): no piled-up labels on the frontier,
round GiB ticks on the planner, sends not drawn in the grey of waiting, a lab axis that reads."""

from __future__ import annotations

import math

import pytest

from ppedu.notebook.plots import training as plots
from ppedu.training.frontier import FrontierPoint


def _point(name: str, bubble: float, peak: float, messages: int = 48, v: int = 1) -> FrontierPoint:
    return FrontierPoint(name, v, bubble, bubble * 0.9, peak, peak, messages, messages, 0.1, 4, 8)


def test_frontier_labels_do_not_pile_up() -> None:
    """Four schedules at peak = 4 with bubbles 13-18 % (1F1B's neighbours: ZB-H1, ZBV, ...): every
    label is shown, and labels near each other on x are at least a label's height apart."""
    from ppedu.notebook.plots.frontier import frontier
    pts = [_point("1f1b", 0.37, 4), _point("zb1", 0.136, 4), _point("zbv", 0.16, 4),
           _point("interleaved-zb", 0.177, 4, v=2), _point("dualpipev", 0.153, 4.5),
           _point("gpipe", 0.40, 8)]
    fig = frontier(pts)
    labels = [a for a in fig.layout.annotations if a.text in {p.label for p in pts}]
    assert sorted(a.text for a in labels) == sorted(p.label for p in pts)
    top = fig.layout.yaxis.range[1]
    ys = sorted(a.ay for a in labels if abs(a.x - 4) < 1)     # the crowded column
    gaps = [b - a for a, b in zip(ys, ys[1:])]
    assert min(gaps) >= 0.05 * top, f"labels {ys} closer than a label's height (axis top {top})"
    assert max(a.ay for a in labels) < top, "a label above the plot"


@pytest.mark.parametrize("top", [0.7, 9.3, 47.0, 111.6, 1234.0])
def test_round_steps(top: float) -> None:
    from ppedu.notebook.plots.memory import _round_step
    step = _round_step(top)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 9) in (1, 2, 5), step
    assert 2 <= top / step <= 10, (top, step)


def test_planner_memory_axis_has_round_ticks() -> None:
    from ppedu.notebook.widgets.plan import DEFAULTS, run_plan
    figs, _ = run_plan({**DEFAULTS, "model": "gpt3-175b", "tp": 8, "p": 8, "m": 64,
                        "recompute": "selective"})
    axis = figs[1].layout.yaxis2
    assert axis.tickmode == "linear" and axis.tick0 == 0
    mantissa = axis.dtick / 10 ** math.floor(math.log10(axis.dtick))
    assert round(mantissa, 9) in (1, 2, 5), axis.dtick
    chosen = [t for t in figs[1].data if t.text and str(t.text[0]).startswith("chosen")]
    assert chosen and chosen[0].textposition == "top left"   # m = 64 is the rightmost point


def test_sends_are_not_drawn_like_waiting() -> None:
    assert plots.KIND_COLORS["send"] != plots.KIND_COLORS["recv"]
    assert plots.KIND_NAMES["send"] != plots.KIND_NAMES["recv"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_memory_line_sits_over_the_bars_in_either_language(lang: str) -> None:
    """The GPU-memory line shares the bars' x categories (a translated "stage N" on one trace and an
    English one on the other would draw the line beside the bars, on categories of its own)."""
    from ppedu.i18n.catalog import speaking
    from ppedu.notebook.plots.memory import plan_memory
    from ppedu.planner.models import get_model
    from ppedu.planner.plan import Layout, plan
    with speaking(lang):
        fig = plan_memory(plan(get_model("gpt3-175b"), Layout(tp=8, pp=8, m=64)))
    xs = {tuple(trace.x) for trace in fig.data}
    assert len(xs) == 1 and len(next(iter(xs))) == 8, xs
