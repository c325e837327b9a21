"""Plotly figures for chapter 5 (serving): policies side by side, the decode bubble vs K, batch
occupancy over time, and a serving timeline.

Read top-down:
  policy_comparison     throughput and latency percentiles per policy (or any labelled runs)
  decode_bubble_vs_k    measured (and simulated) decode bubble for each K on the theory (p-K)/p
  occupancy_over_time   how many requests each issued iteration carried, per run
  serving_gantt         the stages' timeline: prefill and decode steps, labelled by slot

Every function takes ``ServingResult.to_dict()`` dicts (or ServingResults) so the CLI's ``--json``
output plots the same way. Same look as ``ppedu.notebook.plots``: titles, axis titles with units, legends,
Okabe-Ito colours.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ppedu.notebook import plots
from ppedu.schedules.theory import theory_decode_bubble

LATENCIES = (("ttft_p50_s", "TTFT p50"), ("tpot_p50_s", "TPOT p50"), ("e2e_p50_s", "E2E p50"),
             ("e2e_p99_s", "E2E p99"))


def _d(result: Any) -> dict:
    return result.to_dict() if hasattr(result, "to_dict") else dict(result)


def policy_comparison(results: Mapping[str, Any], title: str) -> go.Figure:
    """Left: output tokens/s per run. Right: TTFT/TPOT/E2E percentiles (ms), grouped by run."""
    names, rows = list(results), [_d(r) for r in results.values()]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.35, 0.65], horizontal_spacing=0.12,
                        subplot_titles=("throughput (higher is better)", "latency (lower is better)"))
    fig.add_trace(go.Bar(x=names, y=[r["throughput_tok_s"] for r in rows], name="throughput",
                         marker_color=plots.OKABE_ITO[2], showlegend=False,
                         text=[f"{r['throughput_tok_s']:.0f}" for r in rows], textposition="outside"),
                  row=1, col=1)
    for i, (key, label) in enumerate(LATENCIES):
        ys = [(r[key] or 0.0) * 1e3 for r in rows]
        fig.add_trace(go.Bar(x=names, y=ys, name=label, marker_color=plots.OKABE_ITO[(i + 3) % 8],
                             text=[f"{y:.0f}" for y in ys], textposition="outside"), row=1, col=2)
    fig.update_xaxes(title_text="run")
    fig.update_yaxes(title_text="output tokens per second (tok/s)", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="latency (ms)", rangemode="tozero", row=1, col=2)
    plots._layout(fig, title, 460, top=120)
    fig.update_layout(barmode="group")
    return fig


def decode_bubble_vs_k(measured: Sequence[Any], p: int, simulated: Sequence[Any] = (),
                       title: str | None = None) -> go.Figure:
    """Decode-phase bubble for each K in flight: theory (p-K)/p as a line, measured diamonds,
    simulated circles (the simulator given the measured hop)."""
    ks = list(range(1, p + 1))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ks, y=[theory_decode_bubble(p, k) for k in ks], mode="lines",
                             name="theory (p-K)/p (no message cost)",
                             line=dict(color=plots.OKABE_ITO[0], width=3)))
    for rows, name, symbol, color in ((measured, "measured on real ranks", "diamond", 5),
                                      (simulated, "simulated (measured hop)", "circle-open", 7)):
        rows = [_d(r) for r in rows]
        if rows:
            fig.add_trace(go.Scatter(x=[r["inflight"] for r in rows],
                                     y=[r["decode_bubble_fraction"] for r in rows], mode="markers",
                                     name=name, marker=dict(color=plots.OKABE_ITO[color], size=13,
                                                            symbol=symbol, line=dict(width=2))))
    fig.update_xaxes(title_text="batches in flight K", dtick=1)
    fig.update_yaxes(title_text="decode bubble (idle share of stage time)", range=[0, 1],
                     tickformat=".0%")
    return plots._layout(fig, title or f"Decode bubble vs batches in flight, p={p}", 450)


def occupancy_over_time(results: Mapping[str, Any], title: str) -> go.Figure:
    """Requests per issued iteration over time, one line per run (steps: the batch holds until
    the next issue). ``results`` maps a label to a ServingResult (the dict has no occupancy)."""
    fig = go.Figure()
    for i, (name, result) in enumerate(results.items()):
        occ = sorted(result.occupancy)
        fig.add_trace(go.Scatter(x=[t * 1e3 for t, _, _ in occ], y=[n for _, _, n in occ],
                                 mode="lines+markers", line_shape="hv", name=name,
                                 line=dict(color=plots.OKABE_ITO[i % 8], width=2,
                                           dash="solid" if i == 0 else "dot"),
                                 marker=dict(size=5)))
    top = max((r.config.max_batch for r in results.values()), default=1)
    fig.add_hline(y=top, line=dict(color="grey", dash="dash"), annotation_text=f"max batch {top}",
                  annotation_position="top left")
    fig.update_xaxes(title_text="time since the first request (ms)", rangemode="tozero")
    fig.update_yaxes(title_text="requests in the iteration", rangemode="tozero")
    return plots._layout(fig, title, 430)


def serving_gantt(result: Any, title: str) -> go.Figure:
    """The stages' timeline of a serving run: prefill/decode steps, labelled by slot (batch)."""
    fig = plots.gantt(result.timeline, title)
    fig.update_xaxes(title_text="time since the first request (ms); label = kind + slot")
    return fig
