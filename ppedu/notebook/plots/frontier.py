"""The schedule frontier (chapter 4): bubble against peak activation memory and against messages
per step, every schedule measured (filled) beside simulated (hollow)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ppedu.notebook.plots.training import OKABE_ITO, _layout
from ppedu.i18n.messages import _

_SYMBOLS = {"measured": "circle", "simulated": "diamond-open"}


def frontier(points: Sequence, title: str = "", with_table: bool = False) -> go.Figure:
    """``points``: ``ppedu.training.frontier.FrontierPoint`` list. Left: bubble vs the largest
    peak of held activations over ranks (micro-batches' worth of one rank's layers); right:
    bubble vs point-to-point messages in one step. Down and to the left is better on both.
    ``with_table`` adds the numbers below the plots (the book shows both from one run)."""
    rows = 2 if with_table else 1
    fig = make_subplots(
        rows=rows, cols=2, horizontal_spacing=0.1, vertical_spacing=0.16,
        row_heights=[0.54, 0.46] if with_table else None,
        specs=[[{"type": "xy"}, {"type": "xy"}]] + ([[{"type": "table", "colspan": 2}, None]]
                                                   if with_table else []),
        subplot_titles=(_("bubble vs peak activation memory"), _("bubble vs messages per step")))
    colours = OKABE_ITO[:6] + ("#000000", "#999999", "#8C564B")  # no yellow on white
    for i, pt in enumerate(points):
        colour = colours[i % len(colours)]
        for side in ("measured", "simulated"):
            bubble = getattr(pt, f"{side}_bubble")
            xs = (getattr(pt, f"{side}_peak"), getattr(pt, f"{side}_messages"))
            for col, x in enumerate(xs, start=1):
                fig.add_trace(go.Scatter(
                    x=[x], y=[bubble * 100],
                    mode="markers",   # the left plot's labels are annotations: _label_points
                    marker=dict(symbol=_SYMBOLS[side], size=13 if side == "measured" else 15,
                                color=colour, line=dict(width=2, color=colour)),
                    name=f"{pt.label}", legendgroup=pt.label,
                    showlegend=side == "measured" and col == 1,
                    hovertemplate=_("{label} ({side})<br>bubble %{{y:.1f}} %<br>{what} %{{x}}<extra></extra>").format(
                        label=pt.label, side=_(side), what=_("peak") if col == 1 else _("messages"))),
                    row=1, col=col)
    for col, field in ((1, "peak"), (2, "messages")):  # room for the labels at the right edge
        right = max(max(getattr(pt, f"{side}_{field}") for side in _SYMBOLS) for pt in points)
        fig.update_xaxes(range=[0, right * 1.18], row=1, col=col)
    top = _label_points(fig, points, colours)
    fig.update_yaxes(title_text=_("bubble: idle share of the step (%)"), range=[0, top], row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    fig.update_xaxes(title_text=_("peak activations held (micro-batches' worth of a rank's layers)"),
                     rangemode="tozero", row=1, col=1)
    fig.update_xaxes(title_text=_("point-to-point messages per step (all ranks)"), rangemode="tozero",
                     row=1, col=2)
    fig.add_annotation(text=_("filled: measured on real ranks · hollow diamond: simulated"),
                       xref="paper", yref="paper", x=1.0, y=1.0, yanchor="bottom", xanchor="right",
                       yshift=30, showarrow=False, font=dict(size=12))
    if with_table:
        fig.add_trace(_table(points), row=2, col=1)
    p_m = f"p={points[0].p}, m={points[0].m}, " if points else ""
    return _layout(fig, title or _("The schedule frontier: {p_m}{costs_text}").format(p_m=p_m, costs_text=costs_text(points)),
                   height=1040 if with_table else 560, top=130)


def costs_text(points: Sequence) -> str:
    """The points' T_F : T_B : T_W in words: 'T_F = T_B = T_W' or 'T_F : T_B : T_W = 1 : 1.5 : 0.5'."""
    costs = getattr(points[0], "costs", (1.0, 1.0, 1.0)) if points else (1.0, 1.0, 1.0)
    if len(set(costs)) == 1:
        return "T_F = T_B = T_W"
    return "T_F : T_B : T_W = " + " : ".join(f"{c:g}" for c in costs)


def _table(points: Sequence) -> go.Table:
    header = [_("schedule"), _("bubble measured"), _("bubble simulated"), _("peak act. measured"),
              _("peak act. simulated"), _("messages measured"), _("messages simulated")]
    cells = [[pt.label for pt in points],
             [f"{pt.measured_bubble:.1%}" for pt in points],
             [f"{pt.simulated_bubble:.1%}" for pt in points],
             [f"{pt.measured_peak:g}" for pt in points], [f"{pt.simulated_peak:g}" for pt in points],
             [pt.measured_messages for pt in points], [pt.simulated_messages for pt in points]]
    return go.Table(header=dict(values=header, align="left", font=dict(size=13)),
                    cells=dict(values=cells, align="left", font=dict(size=13), height=26))


def _label_points(fig: go.Figure, points: Sequence, colours: Sequence[str]) -> float:
    """Name each measured point of the left plot without labels piling up (several schedules share
    a peak, e.g. 1F1B, ZB-H1, ZBV at peak = p): labels go to the right of their point, in order of
    bubble, each pushed up until it clears the labels already placed near it, with a thin line
    back to its point when it moved. Returns the y-axis top that keeps every label in view."""
    if not points:
        return 1.0
    xs = [pt.measured_peak for pt in points]
    ys = [pt.measured_bubble * 100 for pt in points]
    right = max(max(xs), max(pt.simulated_peak for pt in points)) * 1.18 or 1.0
    span = max(max(ys), max(pt.simulated_bubble * 100 for pt in points), 1e-9) * 1.1
    gap, near = 0.075 * span, 0.22 * right        # a label's height; its width on the x axis
    markers = [(x, y) for x, y in zip(xs, ys)] + [(pt.simulated_peak, pt.simulated_bubble * 100)
                                                  for pt in points]
    placed: list[tuple[float, float]] = []
    for i in sorted(range(len(points)), key=lambda i: (ys[i], xs[i])):
        y = ys[i]
        # a label runs to the right of its point: clear the labels placed near it and the markers
        # of other points that it would cover
        blocking = placed + [(mx, my) for mx, my in markers if 0 < mx - xs[i] < near]
        for _ in range(2 * len(markers)):   # each pass clears one more obstacle
            clash = [py for px, py in blocking if abs(px - xs[i]) < near and abs(py - y) < 0.99 * gap]
            if not clash:
                break
            y = max(clash) + gap
        placed.append((xs[i], y))
        colour = colours[i % len(colours)]
        moved = abs(y - ys[i]) > 0.3 * gap
        fig.add_annotation(x=xs[i], y=ys[i] if moved else y, ax=xs[i] + 0.04 * right, ay=y,
                           xref="x", yref="y", axref="x", ayref="y", text=points[i].label,
                           xanchor="left", xshift=0 if moved else 10, showarrow=moved,
                           arrowhead=0, arrowwidth=1, arrowcolor=colour, standoff=8,
                           font=dict(size=12, color=colour))
    return max(span, max(y for _, y in placed) + gap)
