"""Plotly figures for chapter 5 (serving).

Read top-down:
  policy_comparison     throughput | TTFT and E2E | TPOT per run (TPOT on its own axis: it is
                        tens of times smaller than E2E and would vanish beside it)
  decode_bubble_vs_k    measured (and simulated) decode bubble for each K on the theory (p-K)/p
  inflight_gain         K batches in flight over one big batch vs x = c B / t0, with the theory
  chunked_prefill       TPOT p99 and stage-0 step spread, with and without a token budget
  kv_memory             peak KV blocks paged vs reserving max length, and preemptions
  length_variance       continuous / static throughput as output lengths spread, measured and simulated
  goodput_vs_rate       the knee: goodput (requests/s meeting the SLOs) per arrival rate, measured
                        (solid) and simulated (dashed)
  occupancy_over_time   how many requests each issued iteration carried, per run
  serving_gantt         the stages' timeline, coloured by batch in flight (slot), prefill hatched

The per-run charts take ``ServingResult.to_dict()`` dicts, ServingResults or ``studies.Run``s, so
the CLI's ``--json`` output plots the same way; a Run is shown by its ``label`` (the student's
language), anything else by its key. The study charts take ``ppedu.serving.studies``' rows. Same look as ``ppedu.notebook.plots.training``: titles, axis titles with units,
legends, Okabe-Ito colours.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ppedu.notebook.plots import training as plots
from ppedu.schedules.theory import theory_decode_bubble
from ppedu.serving.cost import inflight_gain as theory_gain
from ppedu.i18n.messages import N_, _

C = plots.OKABE_ITO


def _d(result: Any) -> dict:
    return result.to_dict() if hasattr(result, "to_dict") else dict(result)


def _names(results: Mapping[str, Any]) -> list[str]:
    """What each run is called on the chart: a Run's translated label, else its key."""
    return [getattr(r, "label", name) for name, r in results.items()]


def _bars(fig: go.Figure, names: list[str], rows: list[dict], key: str, label: str, color: str,
          col: int, scale: float = 1e3, legend: bool = True) -> None:
    ys = [(r.get(key) or 0.0) * scale for r in rows]
    fig.add_trace(go.Bar(x=names, y=ys, name=label, marker_color=color, showlegend=legend,
                         text=[f"{y:.3g}" for y in ys], textposition="outside", cliponaxis=False),
                  row=1, col=col)


def _finish(fig: go.Figure, y_titles: Sequence[str], x_title: str, title: str, height: int,
            top: int) -> go.Figure:
    """Panels side by side: one y-axis title per panel (from zero), one x title, grouped bars."""
    for col, text in enumerate(y_titles, start=1):
        fig.update_yaxes(title_text=text, rangemode="tozero", row=1, col=col)
    fig.update_xaxes(title_text=x_title)
    plots._layout(fig, title, height, top=top)
    fig.update_layout(barmode="group")
    return fig


def policy_comparison(results: Mapping[str, Any], title: str) -> go.Figure:
    """Three panels per run: output tokens/s; TTFT p50 and E2E p50/p99 (ms); TPOT p50/p99 (ms)."""
    names, rows = _names(results), [_d(r) for r in results.values()]
    fig = make_subplots(rows=1, cols=3, column_widths=[0.28, 0.44, 0.28], horizontal_spacing=0.08,
                        subplot_titles=(_("throughput (higher is better)"), _("TTFT and end-to-end (lower is better)"),
                                        _("TPOT, per output token")))
    _bars(fig, names, rows, "throughput_tok_s", _("throughput"), C[2], 1, scale=1.0, legend=False)
    for i, (key, label) in enumerate((("ttft_p50_s", "TTFT p50"), ("e2e_p50_s", "E2E p50"),
                                      ("e2e_p99_s", "E2E p99"))):
        _bars(fig, names, rows, key, label, C[3 + i], 2)
    _bars(fig, names, rows, "tpot_p50_s", "TPOT p50", C[0], 3)
    _bars(fig, names, rows, "tpot_p99_s", "TPOT p99", C[1], 3)
    return _finish(fig, (_("output tokens per second (tok/s)"), _("latency (ms)"), _("time per output token (ms)")),
                   _("run"), title, 480, 130)


def decode_bubble_vs_k(measured: Sequence[Any], p: int, simulated: Sequence[Any] | None = None,
                       title: str | None = None) -> go.Figure:
    """Decode-phase bubble for each K in flight: theory (p-K)/p as a line, measured diamonds,
    simulated circles (the simulator given the run's measured overheads; by default each measured
    run's own ``simulated_decode_bubble_fraction``)."""
    if simulated is None:
        simulated = [{"inflight": d["inflight"], "decode_bubble_fraction": d["simulated_decode_bubble_fraction"]}
                     for d in map(_d, measured) if d.get("simulated_decode_bubble_fraction") is not None]
    ks = list(range(1, p + 1))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ks, y=[theory_decode_bubble(p, k) for k in ks], mode="lines",
                             name=_("theory (p-K)/p (no message cost)"), line=dict(color=C[0], width=3)))
    for rows, name, symbol, color in ((measured, _("measured on real ranks"), "diamond", 5),
                                      (simulated, _("simulated (measured overheads)"), "circle-open", 7)):
        rows = [_d(r) for r in rows]
        if rows:
            fig.add_trace(go.Scatter(x=[r["inflight"] for r in rows],
                                     y=[r["decode_bubble_fraction"] for r in rows], mode="markers",
                                     name=name, marker=dict(color=C[color], size=13, symbol=symbol,
                                                            line=dict(width=2))))
    fig.update_xaxes(title_text=_("batches in flight K"), dtick=1)
    fig.update_yaxes(title_text=_("decode bubble (idle share of stage time)"), range=[0, 1], tickformat=".0%")
    return plots._layout(fig, title or _("Decode bubble vs batches in flight, p={p}").format(p=p), 450)


def inflight_gain(rows: Sequence[Any], p: int, title: str) -> go.Figure:
    """Throughput of K = p batches in flight / one batch of the same p*B requests, vs x = c B / t0
    (``studies.inflight_vs_one_batch`` rows): the theory (1 + p x)/(1 + x) as a line, measured
    diamonds, simulated circles."""
    xs = [r.x for r in rows]
    grid = [max(xs) * i / 50 for i in range(51)]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=grid, y=[theory_gain(p, x) for x in grid], mode="lines",
                             name=_("theory (1 + {p}x)/(1 + x)").format(p=p), line=dict(color=C[0], width=3)))
    source = _("simulated") if rows and rows[0].inflight.source == "simulated" else _("measured")
    fig.add_trace(go.Scatter(x=xs, y=[r.gain for r in rows], mode="markers", name=source,
                             marker=dict(color=C[5], size=13, symbol="diamond")))
    sims = [r.inflight.simulated_throughput_tok_s for r in rows]
    if all(s is not None for s in sims):
        fig.add_trace(go.Scatter(x=xs, y=[s / r.one_batch.simulated_throughput_tok_s
                                          for s, r in zip(sims, rows)], mode="markers",
                                 name=_("simulated (measured overheads)"),
                                 marker=dict(color=C[7], size=13, symbol="circle-open", line=dict(width=2))))
    fig.add_hline(y=1.0, line=dict(color="grey", dash="dash"), annotation_text=_("no gain"),
                  annotation_position="bottom right")
    fig.update_xaxes(title_text=_("x = c·B / t0 (compute per batch over the weight read; 0 = flat cost)"))
    fig.update_yaxes(title_text=_("throughput, {p} batches in flight / one batch").format(p=p), rangemode="tozero")
    return plots._layout(fig, title, 450)


def chunked_prefill(results: Mapping[str, Any], title: str) -> go.Figure:
    """Per token budget: TPOT p99 (decode stalls, ms), stage-0 step spread, throughput."""
    names, rows = _names(results), [_d(r) for r in results.values()]
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.1,
                        subplot_titles=(_("TPOT p99: decode stalls"), _("step-time spread (std/mean)"),
                                        _("throughput")))
    _bars(fig, names, rows, "tpot_p99_s", "TPOT p99", C[0], 1, legend=False)
    _bars(fig, names, rows, "step_cv", _("step spread"), C[3], 2, scale=1.0, legend=False)
    _bars(fig, names, rows, "throughput_tok_s", _("throughput"), C[2], 3, scale=1.0, legend=False)
    return _finish(fig, (_("ms per output token"), _("std / mean of stage-0 steps"), _("output tokens/s")),
                   _("token budget per iteration"), title, 450, 110)


def kv_memory(results: Mapping[str, Any], title: str) -> go.Figure:
    """Per KV budget: peak blocks in use (paged) vs what reserving every running request's max
    length would need, and the number of preemptions (right)."""
    names, rows = _names(results), [_d(r) for r in results.values()]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.12,
                        subplot_titles=(_("KV blocks per stage at the peak"), _("preemptions (recomputed)")))
    _bars(fig, names, rows, "kv_peak_blocks", _("paged: blocks in use"), C[2], 1, scale=1.0)
    _bars(fig, names, rows, "kv_peak_reserved_blocks", _("reserving max length"), C[5], 1, scale=1.0)
    _bars(fig, names, rows, "preemptions", _("preemptions"), C[3], 2, scale=1.0, legend=False)
    return _finish(fig, (_("blocks"), _("preemptions")), _("KV memory budget"), title, 450, 120)


SIMULATED = N_("simulated (given each run's measured overheads)")


def _measured_and_simulated(fig: go.Figure, xs: list, measured: list, simulated: list, name: str,
                            measured_name: str, color: str, symbol: str = "diamond") -> None:
    """One series twice: measured (solid line, filled markers) and the simulator's prediction for
    the same runs (dashed line, open markers). The legend groups the traces by source, under the
    source's title, so "measured" and "simulated" are each said once."""
    for ys, source, dash, mark, width in ((measured, measured_name, "solid", symbol, 3),
                                          (simulated, SIMULATED, "dash", f"{symbol}-open", 2)):
        if all(y is None for y in ys):
            continue
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=name or _(source),
                                 legendgroup=source, legendgrouptitle_text=_(source) if name else None,
                                 line=dict(color=color, width=width, dash=dash),
                                 marker=dict(size=12, symbol=mark, line=dict(width=2, color=color))))


def length_variance(rows: Sequence[Any], title: str, measured_name: str = N_("measured")) -> go.Figure:
    """Continuous / static throughput vs the coefficient of variation of output lengths
    (``studies.length_variance`` rows): measured solid, simulated dashed, 1 = no gain; each
    measured point names its workload's sigma."""
    fig = go.Figure()
    _measured_and_simulated(fig, [r.cv for r in rows], [r.gain for r in rows],
                            [r.simulated_gain for r in rows], "", measured_name, C[5])
    fig.data[0].update(mode="lines+markers+text", text=[f"σ = {r.sigma:g}" for r in rows],
                       textposition="top left")
    fig.add_hline(y=1.0, line=dict(color="grey", dash="dot"), annotation_text=_("1 = no gain"),
                  annotation_position="bottom right")
    fig.update_xaxes(title_text=_("spread of output lengths: coefficient of variation (std / mean, no unit)"),
                     rangemode="tozero")
    fig.update_yaxes(title_text=_("throughput, continuous / static (ratio)"), rangemode="tozero")
    return plots._layout(fig, title, 470, top=120)


def goodput_vs_rate(sweep: Mapping[str, Any], title: str, measured_name: str = N_("measured")) -> go.Figure:
    """Goodput (requests/s meeting both SLOs) per arrival rate, one colour per configuration
    (``studies.rate_sweep``'s Sweeps, each named by its label): measured solid, the simulator's
    prediction for the same runs dashed (when the points carry ``simulated_goodput_req_s``);
    the grey diagonal is "every request meets its targets"."""
    fig = go.Figure()
    symbols = ("square", "circle", "diamond", "triangle-up", "x")
    for i, s in enumerate(sweep.values()):
        _measured_and_simulated(fig, [pt.rate for pt in s.points], [pt.goodput_req_s for pt in s.points],
                                [pt.simulated_goodput_req_s for pt in s.points], s.label,
                                measured_name, C[(2 * i + 1) % 8], symbols[i % len(symbols)])
    rates = sorted({pt.rate for s in sweep.values() for pt in s.points})
    fig.add_trace(go.Scatter(x=rates, y=rates, mode="lines", name=_("every request meets the targets"),
                             legendgroup=_("ideal"), legendgrouptitle_text=_("ideal"),
                             line=dict(color="grey", dash="dot")))
    top = max((pt.goodput_req_s or 0.0 for s in sweep.values() for pt in s.points), default=1.0)
    fig.update_xaxes(title_text=_("arrival rate (requests/s, Poisson; log scale)"), type="log",
                     tickvals=rates, ticktext=[f"{r:g}" for r in rates])
    y_top = max(1.3 * top, 1.15 * rates[0])
    fig.update_yaxes(title_text=_("goodput (requests/s meeting both targets)"), range=[0, y_top])
    # the ideal line y = x leaves the chart at y_top: say so where it does (log x: log10 coords)
    fig.add_annotation(x=math.log10(min(y_top, rates[-1])), y=min(y_top, rates[-1]), xanchor="left",
                       yanchor="top", showarrow=False, font=dict(color="grey"),
                       text=_(" ideal: goodput = arrival rate (rises off the chart)"))
    plots._layout(fig, title, 520)
    fig.update_layout(legend=dict(orientation="v", y=1.0, yref="paper", yanchor="top", x=1.02,
                                  xanchor="left", traceorder="grouped", groupclick="toggleitem"),
                      margin=dict(r=20, t=70))
    return fig


def occupancy_over_time(results: Mapping[str, Any], title: str) -> go.Figure:
    """Requests per issued iteration over time, one line per run (steps: the batch holds until
    the next issue). ``results`` maps a name to a ServingResult or a ``studies.Run`` (the dict
    has no occupancy)."""
    fig = go.Figure()
    names, results = _names(results), {k: getattr(r, "result", r) for k, r in results.items()}
    for i, (name, result) in enumerate(zip(names, results.values())):
        occ = sorted(result.occupancy)
        fig.add_trace(go.Scatter(x=[t * 1e3 for t, _, _ in occ], y=[n for _, _, n in occ],
                                 mode="lines+markers", line_shape="hv", name=name,
                                 line=dict(color=C[i % 8], width=2, dash="solid" if i == 0 else "dot"),
                                 marker=dict(size=5)))
    top = max((r.config.max_batch for r in results.values()), default=1)
    fig.add_hline(y=top, line=dict(color="grey", dash="dash"), annotation_text=_("max batch {top}").format(top=top),
                  annotation_position="top left")
    fig.update_xaxes(title_text=_("time since the first request (ms)"), rangemode="tozero")
    fig.update_yaxes(title_text=_("requests in the iteration"), rangemode="tozero")
    return plots._layout(fig, title, 430)


def serving_gantt(result: Any, title: str) -> go.Figure:
    """The stages' timeline: one colour per batch in flight (slot), prompt-carrying steps hatched.
    No text in the bars (serving steps are too many and too thin); hover for the details."""
    tl = result.timeline
    ranks = [f"GPU {r}" for r in range(tl.world_size)]
    fig = go.Figure()
    for slot in sorted({e.mb for e in tl.events}):
        for kind, shape in (("decode", ""), ("prefill", "/")):
            evs = [e for e in tl.events if e.mb == slot and e.kind == kind]
            if evs:
                fig.add_trace(go.Bar(
                    y=[ranks[e.rank] for e in evs], base=[e.start * 1e3 for e in evs],
                    x=[(e.end - e.start) * 1e3 for e in evs], orientation="h", width=0.8,
                    name=_("batch {slot} · {kind}").format(slot=slot, kind=_(kind)), legendgroup=f"{slot}",
                    marker=dict(color=C[slot % 8], line=dict(width=0.5, color="white"),
                                pattern=dict(shape=shape, fgcolor="white")),
                    hovertemplate=_("batch {slot} {kind}<br>%{{base:.1f}} ms, %{{x:.1f}} ms long<extra></extra>").format(slot=slot, kind=_(kind))))
    fig.update_yaxes(categoryorder="array", categoryarray=ranks, autorange="reversed", title_text=_("rank"))
    fig.update_xaxes(title_text=_("time since the first request (ms)"), rangemode="tozero")
    return plots._layout(fig, title, height=200 + 45 * tl.world_size)
