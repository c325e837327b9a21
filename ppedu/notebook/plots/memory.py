"""Plotly figures for ``ppedu.planner``: the memory wall of a real model, stage by stage.

  plan_memory     stacked bars per pipeline rank: weights, gradients, Adam state, activations,
                  with the GPU's capacity as a line (what chapter 3's "memory wall" looks like)
  plan_tradeoff   for a fixed global batch: bubble and the busiest GPU's bytes over m
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ppedu.notebook.plots.training import OKABE_ITO, _layout
from ppedu.i18n.messages import N_, _

GIB = 2 ** 30
PARTS = (("param_bytes", N_("weights (fp16)")), ("grad_bytes", N_("gradients (fp16)")),
         ("optimizer_bytes", N_("Adam state (fp32 master, m, v)")), ("activation_bytes", N_("activations")))


def plan_memory(result: dict, title: str | None = None) -> go.Figure:
    """Stacked GiB per pipeline rank for one ``ppedu.planner.plan.plan`` result."""
    lay, ranks = result["layout"], result["stages"]
    fig = go.Figure()
    stages = [_("stage {rank}").format(rank=r["rank"]) for r in ranks]   # the bars' and the line's x
    for i, (key, name) in enumerate(PARTS):
        label = _(name)
        fig.add_trace(go.Bar(x=stages, y=[r[key] / GIB for r in ranks], name=label, marker_color=OKABE_ITO[i],
                             customdata=[r["microbatches_held"] for r in ranks],
                             hovertemplate=_("{name}: %{{y:.2f}} GiB (%{{customdata}} micro-batches "
                                             "held)<extra></extra>").format(name=label)))
    fig.add_trace(go.Scatter(x=stages,
                             y=[lay["gpu_memory_gb"]] * len(ranks), mode="lines",
                             name=_("GPU memory ({gpu_memory_gb:g} GiB)").format(gpu_memory_gb=lay['gpu_memory_gb']),
                             line={"color": "#000000", "dash": "dash"}))
    fig.update_xaxes(title_text=_("pipeline stage (one GPU of its tp group)"))
    fig.update_yaxes(title_text=_("memory per GPU (GiB)"), rangemode="tozero")
    verdict = _("fits") if result["fits"] else _("does NOT fit")
    name = result["model"]["name"]
    title = title or (_("{name}: tp={tp} pp={pp} dp={dp}, {schedule} m={m} b={micro_batch_size}, recompute={recompute}: {verdict}, bubble {bubble_fraction:.1%}").format(name=name, tp=lay['tp'], pp=lay['pp'], dp=lay['dp'], schedule=lay['schedule'], m=lay['m'], micro_batch_size=lay['micro_batch_size'], recompute=lay['recompute'], verdict=verdict, bubble_fraction=result['bubble_fraction']))
    fig = _layout(fig, title, height=460, top=110)
    fig.update_layout(barmode="stack", legend_traceorder="normal")  # after _layout (it overlays)
    return fig


def plan_tradeoff(search: dict, gpu_memory_gb: float, title: str = "") -> go.Figure:
    """``ppedu.planner.plan.choose_m`` candidates: bubble (left) and GiB per GPU (right) over m."""
    rows = search["candidates"]
    ms = [c["m"] for c in rows]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=ms, y=[c["bubble_fraction"] for c in rows], mode="lines+markers",
                             name=_("bubble (idle fraction)"), marker_color=OKABE_ITO[0]),
                  secondary_y=False)
    fig.add_trace(go.Scatter(x=ms, y=[c["total_bytes_per_gpu"] / GIB for c in rows],
                             mode="lines+markers", name=_("busiest GPU (GiB)"), marker_color=OKABE_ITO[5],
                             text=[f"b={c['micro_batch_size']}" for c in rows],
                             hovertemplate="m=%{x} %{text}: %{y:.1f} GiB<extra></extra>"),
                  secondary_y=True)
    fig.add_trace(go.Scatter(x=[min(ms), max(ms)], y=[gpu_memory_gb] * 2, mode="lines",
                             name=_("GPU memory ({gpu_memory_gb:g} GiB)").format(gpu_memory_gb=gpu_memory_gb),
                             line={"color": "#000000", "dash": "dash"}), secondary_y=True)
    fig.add_trace(go.Scatter(x=[min(ms), max(ms)], y=[search["max_bubble"]] * 2, mode="lines",
                             name=_("bubble target ({max_bubble:.0%})").format(max_bubble=search['max_bubble']),
                             line={"color": OKABE_ITO[0], "dash": "dot"}), secondary_y=False)
    chosen = search["chosen"]
    if chosen is not None:
        fig.add_trace(go.Scatter(x=[chosen["layout"]["m"]], y=[chosen["bubble_fraction"]],
                                 mode="markers+text", marker={"symbol": "star", "size": 16,
                                                              "color": OKABE_ITO[2]},
                                 text=[_("chosen m={m}").format(m=chosen["layout"]["m"])],
                                 # toward the middle: at the right edge "top right" was cut off
                                 textposition="top left" if chosen["layout"]["m"] > sorted(ms)[len(ms) // 2]
                                 else "top right",
                                 name=_("chosen: smallest m that fits under the target")),
                      secondary_y=False)
    fig.update_xaxes(title_text=_("micro-batches m (global batch fixed: b = B / (m·dp))"), type="log",
                     tickvals=ms, ticktext=[str(m) for m in ms])
    fig.update_yaxes(title_text=_("bubble (idle fraction)"), tickformat=".0%", secondary_y=False,
                     rangemode="tozero")
    top = max([c["total_bytes_per_gpu"] / GIB for c in rows] + [gpu_memory_gb]) * 1.05
    step = _round_step(top)
    fig.update_yaxes(title_text=_("memory of the busiest GPU (GiB)"), secondary_y=True, showgrid=False,
                     tickmode="linear", tick0=0, dtick=step,            # round GiB ticks
                     range=[0, math.ceil(top / step) * step])
    return _layout(fig, title or _("Global batch {global_batch}: bubble vs memory over m").format(global_batch=search['global_batch']),
                   height=480, top=135)


def _round_step(top: float, ticks: int = 5) -> float:
    """A tick step of 1, 2 or 5 x 10^k with about ``ticks`` steps up to ``top`` (then 20, 40, 60
    GiB, not 27.9, 55.8, 83.7)."""
    raw = max(top, 1e-9) / ticks
    scale = 10 ** math.floor(math.log10(raw))
    return next(k * scale for k in (1, 2, 5, 10) if k * scale >= raw)
