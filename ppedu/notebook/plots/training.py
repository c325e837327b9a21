"""Plotly figures for the course: Gantt charts of timelines, bubble curves, memory bars.

Read top-down:
  gantt / gantt_pair        one row per rank ("GPU r"), a bar per action, measured above simulated
  bubble_vs_m               measured bubble points on the theory curve (p-1)/(m+p-1)
  activation_memory         per-rank peak activation memory, one bar group per schedule
  schedule_comparison       measured vs theory bubble per schedule (chapter 4: 1F1B, interleaved, zb1)
  step_time_vs_m            granularity vs latency: step time over m, with the model's sweet spot
  bar_chart / line_chart    generic helpers, reused by the TP (chapter 1) and serving (chapter 5) lessons

Every figure has a title, axis titles with units and a legend. Colours are the Okabe-Ito palette,
which stays distinguishable with the common colour-vision deficiencies; interleaved chunks also
get a hatch pattern so they do not depend on colour at all.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ppedu.i18n.messages import N_, _
from ppedu.errors import check_choice
from ppedu.schedules.theory import theory_bubble
from ppedu.schedules.timeline import Timeline

# Okabe & Ito (2008), "Color Universal Design": safe for deuteranopia, protanopia, tritanopia.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
KIND_COLORS = {"F": "#0072B2", "B": "#E69F00", "W": "#009E73", "prefill": "#CC79A7",
               "decode": "#56B4E9", "recv": "#999999", "send": "#CC79A7", "wait": "#999999"}
KIND_NAMES = {"F": N_("F forward"), "B": N_("B backward"), "W": N_("W weight grad"), "prefill": N_("prefill"),
              "decode": N_("decode"), "recv": N_("waiting for a message"), "send": N_("sending a message"),
              "wait": N_("wait")}
COMM_KINDS = ("recv", "send", "wait")
CHUNK_PATTERNS = ("", "/", "x", ".", "\\", "+", "-", "|")
FONT = dict(family="DejaVu Sans, Arial, Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif", size=14)


METHOD_LABELS = {"cuda_allocator": N_("measured: CUDA allocator"), "saved_tensor_hooks":
                 N_("measured: saved-tensor hooks"), "held_tensors": N_("counted: tensors held"),
                 "formula": N_("formula: Korthikanti et al. 2022")}


def binary_unit(peak_bytes: float) -> tuple[str, float]:
    """(unit, bytes per unit) so that ``peak_bytes`` reads as a few digits: GiB, MiB or KiB."""
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20)):
        if peak_bytes >= 0.5 * scale:
            return unit, float(scale)
    return "KiB", 1024.0


def _layout(fig: go.Figure, title: str, height: int, top: int = 90) -> go.Figure:
    """Common look: readable fonts, white background, legend between the title and the plot."""
    fig.update_layout(title=dict(text=title, x=0.01, y=1.0, yanchor="top", yref="container",
                                 pad=dict(t=12), font=dict(size=18)),
                      font=FONT, height=height,
                      template="plotly_white", margin=dict(l=70, r=20, t=top, b=60),
                      legend=dict(orientation="h", yanchor="top", y=1 - 44 / height,
                                  yref="container", x=0.0, xanchor="left"),
                      barmode="overlay",
                      # a label that does not fit its bar at 10 pt is hidden, not shrunk to an
                      # unreadable speck (interleaved chunks are half-width bars)
                      uniformtext=dict(minsize=10, mode="hide"))
    return fig


_SCALE = {"ms": 1e3, "units": 1.0}
_X_TITLE = {"ms": N_("time since the step's first compute (ms)"),
            "units": N_("time step (units of one forward, t_f = t_b = 1)")}


def _add_gantt(fig: go.Figure, timeline: Timeline, row: int | None = None,
               show_legend: bool = True, show_labels: bool = True, scale: float = 1e3) -> None:
    """Bars of ``timeline`` on one subplot: a trace per (rank, kind) so each rank can be inspected;
    the legend shows each kind once."""
    where = dict(row=row, col=1) if row is not None else {}
    ranks = [f"GPU {r}" for r in range(timeline.world_size)]
    seen = {t.legendgroup for t in fig.data if t.showlegend}
    kinds = sorted({e.kind for e in timeline.events},
                   key=lambda k: (k not in COMM_KINDS, list(KIND_COLORS).index(k) if k in KIND_COLORS else 99))
    for kind in kinds:  # recv first, so compute bars are drawn on top of the waits
        comm = kind in COMM_KINDS
        for r in range(timeline.world_size):
            events = [e for e in timeline.rank_events(r) if e.kind == kind and e.end > e.start]
            if not events:
                continue
            fig.add_trace(go.Bar(
                y=[ranks[r]] * len(events), base=[e.start * scale for e in events],
                x=[(e.end - e.start) * scale for e in events], orientation="h",
                name=_(KIND_NAMES.get(kind, kind)), legendgroup=kind,
                showlegend=show_legend and kind not in seen,
                marker=dict(color=KIND_COLORS.get(kind, OKABE_ITO[7]),
                            opacity=0.3 if comm else 1.0,
                            line=dict(width=0 if comm else 1, color="white"),
                            pattern=dict(shape=[CHUNK_PATTERNS[e.chunk % len(CHUNK_PATTERNS)]
                                                for e in events], fgcolor="white")),
                width=0.35 if comm else 0.8,
                # the hatching says the chunk, so the bar says only kind and micro-batch ("F3",
                # not "F3c1"): short enough to stay readable in a half-width chunk bar
                text=None if comm or not show_labels else [e._replace(chunk=0).label for e in events],
                textposition="inside", insidetextanchor="middle", textangle=0,
                textfont=dict(color="white", size=12),
                customdata=[[e.label, e.start * scale, e.end * scale] for e in events],
                hovertemplate=f"{ranks[r]} %{{customdata[0]}}<br>%{{customdata[1]:.1f}}"
                              f"–%{{customdata[2]:.1f}} {'ms' if scale == 1e3 else ''}"
                              "<extra></extra>"), **where)
            seen.add(kind)
    fig.update_yaxes(categoryorder="array", categoryarray=ranks, autorange="reversed",
                     title_text=_("rank"), **where)
    # plotly shrinks a label until it fits its bar, down to unreadable 4-px text on the short bars of
    # interleaved chunks: below 10 px it is hidden instead (the hover still names the action)
    fig.update_layout(uniformtext=dict(minsize=10, mode="hide"))


def _labels_fit(timeline: Timeline) -> bool:
    # Labels in bars become unreadable clutter beyond ~40 actions per rank.
    counts = [len(timeline.rank_events(r, compute_only=True)) for r in range(timeline.world_size)]
    return max(counts, default=0) <= 40


def gantt(timeline: Timeline, title: str | None = None, unit: str = "ms") -> go.Figure:
    """Gantt chart of ``timeline``: one row per rank, bars coloured by kind (F/B/W), labelled with
    the micro-batch (``F3``, ``B0c1`` = chunk 1), message waits drawn as faint thin bars.

    ``unit="ms"`` for measured/simulated timelines (seconds inside); ``unit="units"`` for
    textbook tables whose times are slot numbers (one unit = one t_f)."""
    check_choice("unit", unit, _SCALE)
    fig = go.Figure()
    _add_gantt(fig, timeline, show_labels=_labels_fit(timeline), scale=_SCALE[unit])
    fig.update_xaxes(title_text=_(_X_TITLE[unit]), rangemode="tozero")
    _chunk_note(fig, timeline)
    return _layout(fig, title or _("Pipeline timeline"), height=160 + 45 * timeline.world_size)


def gantt_pair(measured: Timeline, simulated: Timeline,
               title: str | None = None, names: tuple[str, str] | None = None) -> go.Figure:
    """Two timelines on one time axis, the first above the second (by default measured above
    simulated), so their gaps can be compared bar by bar."""
    title, names = title or _("Measured on real ranks vs simulated"), names or (
        _("measured (recorded by the ranks)"), _("simulated (the step replayed from its measured parts)"))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=names)
    labels = _labels_fit(measured) and _labels_fit(simulated)
    _add_gantt(fig, measured, row=1, show_labels=labels)
    _add_gantt(fig, simulated, row=2, show_labels=labels)
    end = max(measured.makespan, simulated.makespan) * 1e3 * 1.02
    fig.update_xaxes(range=[0, end])
    fig.update_xaxes(title_text=_(_X_TITLE["ms"]), row=2, col=1)
    _chunk_note(fig, measured)
    return _layout(fig, title, height=220 + 90 * max(measured.world_size, simulated.world_size),
                   top=110)


def _chunk_note(fig: go.Figure, timeline: Timeline) -> None:
    """Say what the hatching means when the timeline has interleaved model chunks."""
    chunks = sorted({e.chunk for e in timeline.events})
    if len(chunks) > 1:
        fig.add_annotation(text=_("plain: model chunk 0 · hatched: chunk 1, 2, ... (interleaved)"),
                           xref="paper", yref="paper", x=1.0, y=1.0, yanchor="bottom",
                           xanchor="right", yshift=24, showarrow=False, font=dict(size=12))


def _m_and_bubble(point: Any) -> tuple[int, float]:
    """(m, measured bubble) from a TrainResult, a dict or an (m, bubble) pair."""
    if hasattr(point, "measured_bubble_fraction"):
        return point.config.m, point.measured_bubble_fraction
    if isinstance(point, Mapping):
        return int(point["m"]), float(point["measured_bubble_fraction"])
    m, bubble = point
    return int(m), float(bubble)


def bubble_vs_m(points: Iterable[Any], p: int, schedule: str = "1f1b", v: int = 1,
                title: str | None = None) -> go.Figure:
    """Measured bubble for each m (markers) against the closed form (line).

    ``points``: TrainResults, ``summary()`` dicts or ``(m, bubble)`` pairs.
    """
    pts = sorted(_m_and_bubble(pt) for pt in points)
    top = max([m for m, _ in pts] + [8])
    curve_m = sorted({1 + round(i * (top * 1.25 - 1) / 200) for i in range(201)})
    formula = "(p-1)/(v·m+p-1)" if schedule == "interleaved" else "(p-1)/(m+p-1)"
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curve_m, y=[theory_bubble(schedule, p, m, v) for m in curve_m],
                             mode="lines", name=_("theory {formula}").format(formula=formula),
                             line=dict(color=OKABE_ITO[0], width=3)))
    fig.add_trace(go.Scatter(x=[m for m, _ in pts], y=[b for _, b in pts], mode="markers",
                             name=_("measured on real ranks"),
                             marker=dict(color=OKABE_ITO[5], size=12, symbol="diamond",
                                         line=dict(width=1, color="black"))))
    fig.update_xaxes(title_text=_("micro-batches m"), type="log", dtick=math.log10(2))
    fig.update_yaxes(title_text=_("bubble fraction (idle share)"), range=[0, 1], tickformat=".0%")
    return _layout(fig, title or _("Bubble vs micro-batches: {schedule}, p={p}").format(schedule=schedule, p=p), height=450)


def activation_memory(results: Mapping[str, Any] | Sequence[Any],
                      title: str | None = None) -> go.Figure:
    """Grouped bars: measured peak activation bytes per rank, one colour per schedule.

    ``results``: ``{"gpipe": TrainResult, "1f1b": TrainResult}`` or a list of TrainResults.
    Bars are labelled with the micro-batches held at the peak.
    """
    items = results.items() if isinstance(results, Mapping) else \
        [(f"{r.config.schedule} m={r.config.m}", r) for r in results]
    items = list(items)
    peak = max((pr.peak_activation_bytes for _, r in items for pr in r.per_rank), default=0)
    unit, scale = binary_unit(peak)   # tiny CPU models get KiB so the numbers are not all 0.00
    methods = {getattr(r, "activation_memory_method", "") for _, r in items} - {""}
    fig = go.Figure()
    for i, (name, r) in enumerate(items):
        fig.add_trace(go.Bar(x=[f"GPU {pr.rank}" for pr in r.per_rank],
                             y=[pr.peak_activation_bytes / scale for pr in r.per_rank],
                             name=name, marker_color=OKABE_ITO[i % len(OKABE_ITO)],
                             text=[_held(pr.peak_inflight_microbatches) for pr in r.per_rank],
                             textposition="outside",
                             hovertemplate=f"{name} %{{x}}: %{{y:.3g}} {unit}<extra></extra>"))
    how = _(" (bytes {methods})").format(methods=" / ".join(sorted(_(METHOD_LABELS.get(m, m)) for m in methods))) if methods else ""
    fig.update_xaxes(title_text=_("rank{how}").format(how=how))
    fig.update_yaxes(title_text=_("peak activations held ({unit})").format(unit=unit), rangemode="tozero")
    fig = _layout(fig, title or _("Peak activation memory per rank"), height=430)
    fig.update_layout(barmode="group")
    return fig


def _held(n: int) -> str:
    # spelled out: "8 mb" beside an axis in MB read as megabytes
    return (_("{n} micro-batch") if n == 1 else _("{n} micro-batches")).format(n=n)


def schedule_comparison(results: Mapping[str, Any] | Sequence[Any],
                        title: str | None = None) -> go.Figure:
    """Measured and theoretical bubble side by side for each schedule (and step time on hover)."""
    items = list(results.items()) if isinstance(results, Mapping) else \
        [(f"{r.config.schedule} v={r.config.v}" if r.config.v > 1 else r.config.schedule, r)
         for r in results]
    names = [n for n, _ in items]
    fig = bar_chart(names, {_("measured"): [r.measured_bubble_fraction for _, r in items],
                            _("theory"): [r.theory_bubble_fraction or 0.0 for _, r in items],
                            _("simulated"): [r.simulated_bubble_fraction for _, r in items]},
                    title=title or _("Bubble by schedule: measured vs theory"), x_title=_("schedule"), y_title=_("bubble fraction (idle share)"))
    fig.update_yaxes(tickformat=".0%")
    for trace in fig.data:
        trace.customdata = [[r.step_time_s * 1e3] for _, r in items]
        trace.hovertemplate = _("%{x}: %{y:.1%}, step %{customdata[0]:.0f} ms<extra>%{fullData.name}</extra>")
    return fig


def step_time_vs_m(points: Iterable[Any], model: Mapping[int, float] | None = None,
                   best_m: float | None = None,
                   title: str | None = None) -> go.Figure:
    """Measured step time for each m; optionally the cost model's curve and its optimum m*."""
    pts = sorted((r.config.m, r.step_time_s * 1e3) if hasattr(r, "step_time_s") else
                 (int(r[0]), float(r[1]) * 1e3) for r in points)
    series = {_("measured step"): ([m for m, _ in pts], [t for _, t in pts])}
    if model:
        series[_("model (m+p-1)(T/m+2α)")] = (sorted(model), [model[m] * 1e3 for m in sorted(model)])
    fig = line_chart(series, title=title or _("Granularity vs latency: step time over m"), x_title=_("micro-batches m"), y_title=_("step time (ms)"))
    fig.update_xaxes(type="log", dtick=math.log10(2))
    if best_m:  # a trace, not a shape: shapes and annotations disagree on log-axis coordinates
        top = max(t for trace in fig.data for t in trace.y)
        fig.add_trace(go.Scatter(x=[best_m, best_m], y=[0, top * 1.05], mode="lines",
                                 name=_("model optimum m* ≈ {best_m:.1f}").format(best_m=best_m),
                                 line=dict(color=OKABE_ITO[5], dash="dash", width=2)))
    return fig


# ---- generic helpers (chapters 1 and 5 reuse them) -------------------------------------------

def bar_chart(categories: Sequence[str], series: Mapping[str, Sequence[float]], title: str,
              x_title: str, y_title: str, text_format: str = ".3g") -> go.Figure:
    """Grouped bars: one colour per series, one group per category; values printed on the bars."""
    fig = go.Figure()
    for i, (name, values) in enumerate(series.items()):
        fig.add_trace(go.Bar(x=list(categories), y=list(values), name=name,
                             marker_color=OKABE_ITO[i % len(OKABE_ITO)],
                             text=[format(v, text_format) for v in values], textposition="outside"))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, rangemode="tozero")
    fig = _layout(fig, title, height=430)
    fig.update_layout(barmode="group")
    return fig


def line_chart(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str,
               x_title: str, y_title: str) -> go.Figure:
    """Lines with markers: ``series[name] = (xs, ys)``; distinct colours and marker symbols."""
    symbols = ("circle", "diamond", "square", "triangle-up", "x", "cross")
    fig = go.Figure()
    for i, (name, (xs, ys)) in enumerate(series.items()):
        fig.add_trace(go.Scatter(x=list(xs), y=list(ys), mode="lines+markers", name=name,
                                 line=dict(color=OKABE_ITO[i % len(OKABE_ITO)], width=3,
                                           dash="solid" if i == 0 else "dot"),
                                 marker=dict(size=10, symbol=symbols[i % len(symbols)])))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, rangemode="tozero")
    return _layout(fig, title, height=430)
