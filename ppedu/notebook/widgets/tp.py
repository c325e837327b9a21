"""Chapter 1's panel and lesson helpers: TP vs PP measured on the warm cluster, beside the cost model.

Read top-down:
  make_setup              widget values -> (n, GPTConfig, run kwargs); UsageError names the setting
  sweep_latency           compare_tp_pp at each emulated link latency (one warm cluster)
  bytes_figure            bytes on the wire and messages per step, TP vs PP, measured vs predicted
  latency_figure          comm time and step time vs link latency: measured points, theory lines,
                          the crossover marked
  run_comparison          the button's work: (figures, summary line) or ([], "⚠ message")
  tp_vs_pp_panel          ipywidgets: n, layers, hidden, latency, bandwidth, Run
  mesh_gradients_match    TP x PP mesh gradients vs the single-process model (the lesson asserts it):
                          a MeshGradientCheck of MeshRankCounts
  check_allreduces_per_step  grader for "how many all-reduces does a step make?"

Tests call the plain functions directly: an exception inside a button handler never fails a cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ppedu.notebook.plots import training as plots
from ppedu.notebook.grading import grader
from ppedu.errors import UsageError, check_float, check_int, check_names
from ppedu.model.gpt import GPTConfig, GPT
from ppedu.notebook.widgets.panel import label_style, number, panel_action, run_panel
from ppedu.notebook.checks.tp import measured_field
from ppedu.tensor_parallel.compare import (MAX_CPU_RANKS, Comparison, check_comparison, compare_tp_pp,
                                           predict_comm_time, predict_step_time)
from ppedu.tensor_parallel.jobs import check_setup, mesh_step_job
from ppedu.model.corpus import get_batch
from ppedu.tensor_parallel.layers import shard
from ppedu.i18n.messages import _

DEFAULTS: dict[str, Any] = {"n": 2, "layers": 2, "hidden": 32, "heads": 4, "batch": 4, "seq": 16,
                            "latency_ms": 3.0, "bandwidth_gbps": 0.0, "repeats": 2}
# The settings as the panel's messages name them (check_comparison's keys).
NAMES_SHOWN = {"n": "n", "heads": "heads", "layers": "layers", "batch": "batch", "seq": "seq"}
COLORS = {"tp": plots.OKABE_ITO[0], "pp": plots.OKABE_ITO[1]}
NAMES = {"tp": "TP", "pp": "PP"}


def make_setup(values: dict) -> tuple[int, GPTConfig, dict]:
    """Validate widget values (missing keys take DEFAULTS): (n, config, kwargs for compare_tp_pp)."""
    check_names("tp_vs_pp_panel", values, DEFAULTS)
    v = {**DEFAULTS, **values}
    n = check_int(_("n (ranks)"), v["n"], 1, MAX_CPU_RANKS)
    layers = check_int("layers", v["layers"], 1, 32)
    heads = check_int("heads", v["heads"], 1, 64)
    hidden = check_int("hidden", v["hidden"], 1, 1024)
    if hidden % heads:
        raise UsageError(_("hidden must be a multiple of heads={heads} (got {hidden})").format(heads=heads, hidden=hidden))
    seq = check_int("seq", v["seq"], 1, 1024)
    bw = check_float(_("bandwidth (GB/s, 0 = unlimited)"), v["bandwidth_gbps"], 0.0, 1e4)
    kw = {"batch": check_int("batch", v["batch"], 1, 256), "seq": seq,
          "repeats": check_int("repeats", v["repeats"], 1, 20),
          "bandwidth_gbps": bw if bw > 0 else math.inf}
    check_float(_("link latency (ms)"), v["latency_ms"], 0.0, 100.0)
    config = GPTConfig(n_layer=layers, n_head=heads, n_embd=hidden, block_size=seq)
    check_comparison(config, n, kw["batch"], seq, names=NAMES_SHOWN)   # the mesh rules: compare's, once
    return n, config, kw


def sweep_latency(n: int, config: GPTConfig, latencies_ms: Sequence[float], group=None,
                  **kw: Any) -> list[Comparison]:
    """One ``compare_tp_pp`` result per emulated latency, same model and cluster."""
    return [compare_tp_pp(n, config, latency_ms=float(lat), group=group, **kw) for lat in latencies_ms]


def bytes_figure(result: Comparison) -> go.Figure:
    """Bytes on the wire (all ranks) and messages per step: measured beside the cost model."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                        subplot_titles=(_("bytes on the wire per step"), _("messages per step")))
    for k in ("tp", "pp"):
        for col, key, scale in ((1, "bytes", 1e-3), (2, "messages", 1.0)):
            ys = [getattr(getattr(result, k), key) * scale, getattr(getattr(result.predicted, k), key) * scale]
            fig.add_trace(go.Bar(x=[_("measured"), _("cost model")], y=ys, name=NAMES[k], legendgroup=k,
                                 showlegend=col == 1, marker_color=COLORS[k],
                                 text=[f"{y:.4g}" for y in ys], textposition="outside"), row=1, col=col)
    fig.update_yaxes(title_text=_("kB (all ranks together)"), rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text=_("all-reduces + P2P sends"), rangemode="tozero", row=1, col=2)
    fig.update_xaxes(title_text=_("source of the number"))
    n, L = result.n, result.config.n_layer
    plots._layout(fig, _("TP vs PP over n={n} ranks, {layers} layers: what one training step moves").format(n=n, layers=L), 450,
                  top=120)                               # room for the legend above subplot titles
    fig.update_layout(barmode="group")
    return fig


def _theory(results: list[Comparison], points: int = 41) -> tuple[list[float], dict, dict]:
    """Dense latency grid with predicted comm and step times (compute = median measured reference)."""
    r0 = results[0]
    compute_s = sorted(r.reference_step_s for r in results)[len(results) // 2]
    top = max(max(r.latency_ms for r in results), 1e-3)
    xs = [top * i / (points - 1) for i in range(points)]
    kw = dict(bandwidth_gbps=r0.bandwidth_gbps, batch=r0.batch, seq=r0.seq, microbatches=r0.microbatches)
    comm = [predict_comm_time(r0.config, r0.n, x, **kw) for x in xs]
    step = [predict_step_time(r0.config, r0.n, compute_s, x, **kw) for x in xs]
    return (xs, {k: [getattr(c, k).comm_time_s * 1e3 for c in comm] for k in NAMES},
            {k: [getattr(s, k) * 1e3 for s in step] for k in NAMES})


def measured_crossover_ms(results: list[Comparison]) -> float | None:
    """Latency where the measured step times cross (linear between points); 0 if PP already wins at
    the smallest latency, None if TP still wins at the largest."""
    pts = sorted((r.latency_ms, r.pp.step_time_s - r.tp.step_time_s) for r in results)
    if pts[0][1] <= 0:
        return pts[0][0]
    for (x0, g0), (x1, g1) in zip(pts, pts[1:]):
        if g1 <= 0 < g0:
            return x0 + (x1 - x0) * g0 / (g0 - g1)
    return None


def latency_figure(results: list[Comparison]) -> go.Figure:
    """Comm time and step time vs link latency: measured markers, cost-model lines, crossovers."""
    xs, comm, step = _theory(results)
    lat = [r.latency_ms for r in results]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=(_("communication time (worst rank)"), _("step time")))
    for col, key, theory in ((1, "comm_time_s", comm), (2, "step_time_s", step)):
        for k in ("tp", "pp"):
            fig.add_trace(go.Scatter(x=lat, y=[getattr(getattr(r, k), key) * 1e3 for r in results], mode="markers",
                                     name=_("{names} measured").format(names=NAMES[k]), legendgroup=f"{k}m", showlegend=col == 1,
                                     marker=dict(color=COLORS[k], size=11,
                                                 symbol="circle" if k == "tp" else "diamond")),
                          row=1, col=col)
            fig.add_trace(go.Scatter(x=xs, y=theory[k], mode="lines", name=_("{names} cost model").format(names=NAMES[k]),
                                     legendgroup=f"{k}t", showlegend=col == 1,
                                     line=dict(color=COLORS[k], dash="dot" if k == "pp" else "solid")),
                          row=1, col=col)
    marks = (("theory", results[0].crossover_latency_ms, "dash"),
             ("measured", measured_crossover_ms(results), "dot"))
    for label, x, dash in marks:
        if x is not None:
            # both labels at the top, one under the other: the measured points sit low near x = 0
            fig.add_vline(x=x, line=dict(color=plots.OKABE_ITO[5], dash=dash, width=2), row=1, col=2,
                          annotation_text=_("{label} crossover ≈ {x:.2f} ms").format(label=_(label), x=x), annotation_position="top right",
                          annotation=dict(yshift=0 if label == "theory" else -24,
                                          bgcolor="rgba(255,255,255,0.85)"))
    fig.update_xaxes(title_text=_("emulated link latency per message (ms)"))
    fig.update_yaxes(title_text=_("time per step (ms)"), rangemode="tozero")
    r0 = results[0]
    plots._layout(fig, _("TP vs PP over n={n} ranks, {layers} layers: cost of a slower link").format(n=r0.n, layers=r0.config.n_layer),
                  490, top=120)
    return fig


def summary(results: list[Comparison]) -> str:
    """One line: counts, bytes ratio, step times at the ends of the sweep, crossovers."""
    lo, hi = results[0], results[-1]
    ratio = lo.tp.bytes / max(lo.pp.bytes, 1)
    th, me = lo.crossover_latency_ms, measured_crossover_ms(results)
    return (_("TP: {tp_messages} all-reduces, {tp_kb:.1f} kB; PP: {pp_messages} sends, {pp_kb:.1f} kB (TP/PP = {ratio:.1f}x) · "
              "step at {lo_ms:g} ms: TP {lo_tp:.1f} ms, PP {lo_pp:.1f} ms; at {hi_ms:g} ms: TP {hi_tp:.1f} ms, PP "
              "{hi_pp:.1f} ms · crossover: theory {theory}, measured {measured}").format(
        tp_messages=lo.tp.messages, tp_kb=lo.tp.bytes / 1e3, pp_messages=lo.pp.messages,
        pp_kb=lo.pp.bytes / 1e3, ratio=ratio, lo_ms=lo.latency_ms, lo_tp=lo.tp.step_time_s * 1e3,
        lo_pp=lo.pp.step_time_s * 1e3, hi_ms=hi.latency_ms, hi_tp=hi.tp.step_time_s * 1e3,
        hi_pp=hi.pp.step_time_s * 1e3, theory=_crossing(th), measured=_crossing(me)))


def _crossing(x: float | None) -> str:
    return _("never") if x is None else "≈ " + number(x, ".2f", unit=" ms")


@panel_action
def run_comparison(values: dict, latencies: Sequence[float] | None = None,
                   group=None) -> tuple[list[go.Figure], str]:
    """Measure at ``latencies`` (default 0, half and all of values["latency_ms"]): [bytes figure,
    latency figure], summary line. Bad values: ([], "⚠ one-line message")."""
    n, config, kw = make_setup(values)                   # before any rank starts
    top = float({**DEFAULTS, **values}["latency_ms"])
    asked = latencies if latencies is not None else (0.0, top / 2, top)
    if not isinstance(asked, (list, tuple, range)):
        raise UsageError(_("latencies must be a list of milliseconds (got {asked!r})").format(asked=asked))
    lats = sorted({check_float(_("latency (ms)"), x, 0.0, 100.0) for x in asked})
    results = sweep_latency(n, config, lats, group=group, **kw)
    return [bytes_figure(results[0]), latency_figure(results)], summary(results)


def tp_vs_pp_panel(**defaults: Any):
    """n, layers, hidden, link latency, bandwidth and a Run button; nothing runs on a slider tick.

    Run measures at 0, half and the full latency on ``ppedu.runtime.cluster.get_cluster(n)``."""
    import ipywidgets as w

    values = {**DEFAULTS, **defaults}
    make_setup(values)                                   # a bad default fails in the cell, now
    # n's slider stops at 4: each rank is a warm process, and more than a laptop has cores only share
    # them; make_setup still takes up to MAX_CPU_RANKS typed in a call
    controls = {"n": w.IntSlider(values["n"], min=1, max=4, description=_("n (ranks)")),
                "layers": w.IntSlider(values["layers"], min=1, max=12, description=_("layers")),
                "hidden": w.IntText(values["hidden"], description=_("hidden (multiple of heads)")),
                "latency_ms": w.FloatSlider(values["latency_ms"], min=0, max=20, step=0.5,
                                            description=_("link latency (ms)")),
                "bandwidth_gbps": w.FloatText(values["bandwidth_gbps"],
                                              description=_("bandwidth (GB/s, 0 = ∞)"))}
    style = label_style(c.description for c in controls.values())   # long labels, not cut off
    for c in controls.values():
        c.style, c.layout = style, w.Layout(width=f"{int(style['description_width'][:-2]) + 260}px")

    def action(current: dict, _progress: Callable) -> tuple[list[go.Figure], str]:
        return run_comparison(current)     # compare_tp_pp starts its n ranks once the values pass
    return run_panel(_("TP vs PP: measure a step"), controls, action, "tp", base=values)


# ---- lesson helpers -----------------------------------------------------------------------------

@dataclass(frozen=True)
class MeshRankCounts:
    """One mesh rank's place and what its step sent."""
    rank: int
    pp_rank: int
    tp_rank: int
    all_reduces: int
    p2p_sends: int


@dataclass(frozen=True)
class MeshGradientCheck:
    """``mesh_gradients_match``'s answer: the mesh's gradients beside the single-process model's."""
    ok: bool
    max_abs_diff: float
    parameters: int                   # parameters compared (every one lives on some rank)
    reference_loss: float
    mesh_loss: float
    ranks: list[MeshRankCounts]


def mesh_gradients_match(config: GPTConfig, tp: int, pp: int, batch: int, seq: int,
                         microbatches: int = 1, group=None, rtol: float = 1e-4,
                         atol: float = 1e-6) -> MeshGradientCheck:
    """Run one step of a tp x pp mesh on ``group`` (tp x pp ranks) and compare every rank's gradient
    shards with the single-process model's: counts per rank, the largest difference and ``ok``."""
    import torch

    check_setup(config, tp, pp, batch, microbatches, group.world_size)    # before the ranks run
    check_int("seq", seq, 1, config.block_size)
    out = group.run(mesh_step_job, config, tp, pp, batch, seq, microbatches=microbatches, repeats=1,
                    return_grads=True)
    model = GPT(config)
    x, y = get_batch(batch, seq, 0)                      # the batch mesh_step_job uses (data_seed=0)
    loss = model(x, y)[1]
    loss.backward()
    ref = {name: p.grad for name, p in model.named_parameters()}
    worst, ok, seen = 0.0, True, set()
    for r in out:
        for name, grad in r.grads.items():
            want = shard(name, ref[name], r.tp_rank, tp)
            same = grad.shape == want.shape and torch.allclose(grad, want, rtol=rtol, atol=atol)
            ok &= same
            worst = max(worst, (grad - want).abs().max().item() if grad.shape == want.shape else math.inf)
            seen.add(name)
    ok &= seen == set(ref)                               # every parameter lives on some rank
    last = [r.steps[-1].loss for r in out if r.steps[-1].loss is not None]
    return MeshGradientCheck(bool(ok), worst, len(seen), loss.item(), last[0],
                             [MeshRankCounts(r.rank, r.pp_rank, r.tp_rank, r.steps[-1].all_reduces,
                                             r.steps[-1].p2p_messages) for r in out])


@grader
def check_allreduces_per_step(fn: Callable[[int, int], int], measured: Comparison | dict) -> None:
    """Grader: ``fn(layers, tp)`` = all-reduces one training step makes (TP over tp ranks), checked
    against the measured counters of a ``compare_tp_pp`` result (or its JSON) and against tp=1."""
    L, n = measured_field(measured, "layers"), measured_field(measured, "n")
    got, want = fn(L, n), measured_field(measured, "tp", "collectives")
    if got != want:
        raise AssertionError(_("fn({layers}, {n}) = {got}, but the ranks counted {want} all-reduces. Hint: per block, g after attention and after the MLP (forward), f before each of them (backward).").format(layers=L, n=n, got=got, want=want))
    if fn(L, 1) != 0 or fn(2 * L, n) != 2 * want:
        raise AssertionError(_("Right for this run, but check tp=1 (nobody to talk to: 0) and twice "
                             "the layers (twice the all-reduces)."))
    print(_("✓ {got} all-reduces per step for {layers} layers, as counted on the {n} ranks.").format(got=got, layers=L, n=n))
