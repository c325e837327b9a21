"""Widget panels for the notebooks: pick a schedule and sizes, press Run, see the measurement.

    training_panel(schedule="1f1b", p=4, m=8)      # Gantt measured vs simulated + memory + summary
    bubble_sweep_panel(p=4, ms=(1, 2, 4, 8, 16))    # bubble vs m, measured against theory

Nothing expensive runs when a slider moves: only the Run button starts a job on the warm cluster.
The button handlers call plain module-level functions (``run_training``, ``run_bubble_sweep``,
``run_latency_sweep``) that return ``(figures, summary_text)``; tests call them directly, because
an exception inside a widget callback never fails a notebook cell. Bad values (``m`` not a multiple
of ``p`` for interleaving, ...) come back as the UsageError's one-line message, shown in the panel.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable, Sequence

import plotly.graph_objects as go

from ppedu.notebook.plots import training as plots
from ppedu.errors import UsageError, check_names
from ppedu.notebook.widgets.panel import label_style, number, panel_action, run_panel
from ppedu.planner.formulas import RECOMPUTE
from ppedu.schedules.actions import SCHEDULE_NAMES
from ppedu.schedules.builders import fit_v
from ppedu.training.config import TrainConfig
from ppedu.training.engine import TrainResult, train
from ppedu.training.sweeps import best_m, step_time_model, sweep_m
from ppedu.model.workloads import WORKLOADS
from ppedu.i18n.messages import N_, _

SETTINGS = ("schedule", "p", "m", "v", "workload", "tf_ms", "tb_ms", "tw_ms", "latency_ms", "steps",
            "recompute")
DEFAULTS: dict[str, Any] = {name: getattr(TrainConfig, name) for name in SETTINGS}  # one default each
CONTROLS = ("schedule", "p", "m", "v", "workload", "tf_ms", "tb_ms", "latency_ms")
Progress = Callable[[int, int, TrainResult], None]


def make_config(values: dict) -> TrainConfig:
    """A TrainConfig from widget values (missing keys take ``DEFAULTS``); raises UsageError."""
    check_names("TrainConfig", values, [f.name for f in fields(TrainConfig)])
    merged = {**DEFAULTS, **values}
    if merged["schedule"] in SCHEDULE_NAMES:  # the v slider means something for some schedules
        merged["v"] = fit_v(merged["schedule"], merged["v"])  # only; don't fail on it elsewhere
    return TrainConfig(**merged)


def summary_line(result: TrainResult) -> str:
    """One line: measured vs theory vs simulated bubble, step time, and any warning note."""
    c = result.config
    v = f" v={c.v}" if c.v > 1 else ""
    rc = _(", recompute {recompute}").format(recompute=c.recompute) if c.recompute != "none" else ""
    line = (_("{schedule} p={p} m={m}{v} ({workload}{rc}): measured bubble {measured} · theory {theory} · simulated {simulated} · step {step_ms:.0f} ms").format(schedule=c.schedule, p=c.p, m=c.m, v=v, workload=c.workload, rc=rc, measured=number(result.measured_bubble_fraction), theory=number(result.theory_bubble_fraction), simulated=number(result.simulated_bubble_fraction), step_ms=result.step_time_s * 1e3))
    parts = " · ".join(_("rank {rank}: compute {compute:.0f} / overhead {overhead:.0f} / messages {messages:.0f} / bubble {bubble:.0f} ms").format(rank=b.rank, compute=b.compute_s * 1e3, overhead=b.overhead_s * 1e3, messages=b.messages_s * 1e3, bubble=b.bubble_s * 1e3) for b in result.breakdown)
    line += _(" (simulated vs measured step {simulation_error:+.0f}%)").format(simulation_error=result.simulation_error * 100) + (f" · {parts}" if parts else "")
    return " ".join([line] + [_("— note: {n}").format(n=n) for n in result.notes])


@panel_action
def run_training(values: dict, group=None) -> tuple[list[go.Figure], str]:
    """Run one configuration: [measured-vs-simulated Gantt, activation memory], summary line."""
    result = train(make_config(values), group=group)
    title = f"{result.config.schedule}, p={result.config.p}, m={result.config.m}"
    return [plots.gantt_pair(result.timeline, result.simulated,
                             _("{title}: measured on real ranks vs simulated").format(title=title)),
            plots.activation_memory({result.config.schedule: result},
                                    _("{title}: peak activation memory per rank").format(title=title))], \
        summary_line(result)


def parse_ms(ms: Sequence[int] | str) -> list[int]:
    """``"1, 2, 4"`` or ``[1, 2, 4]`` -> [1, 2, 4]; anything else is a UsageError."""
    if isinstance(ms, str):
        try:
            return [int(x) for x in ms.replace(",", " ").split()]
        except ValueError:
            raise UsageError(_("m values must be whole numbers separated by commas (got {ms!r})").format(ms=ms)) from None
    return list(ms)


@panel_action
def run_bubble_sweep(values: dict, ms: Sequence[int] | str, group=None,
                     progress: Progress | None = None) -> tuple[list[go.Figure], str]:
    """Measure the bubble for each m: [bubble vs m figure], a line per point, theory beside it."""
    cfg = make_config(values)
    results = sweep_m(cfg, parse_ms(ms), group=group, progress=progress)
    fig = plots.bubble_vs_m(results, cfg.p, cfg.schedule, cfg.v,
                            _("Bubble vs micro-batches: {schedule}, p={p}").format(schedule=cfg.schedule, p=cfg.p))
    text = "; ".join(_("m={m}: measured {measured:.3f} vs theory {theory}").format(
        m=r.config.m, measured=r.measured_bubble_fraction, theory=number(r.theory_bubble_fraction)) for r in results)
    return [fig], text


@panel_action
def run_latency_sweep(values: dict, ms: Sequence[int], batch_ms: float, group=None,
                      progress: Progress | None = None) -> tuple[list[go.Figure], str]:
    """Fixed batch of ``batch_ms`` (forward + backward per stage) split into m micro-batches under
    ``values["latency_ms"]``: [step time vs m with the model and its m*], the fastest m."""
    cfg = make_config(values)
    results = sweep_m(cfg, ms, batch_ms=batch_ms, group=group, progress=progress)
    alpha, batch_s = cfg.latency_ms / 1e3, batch_ms / 1e3
    model = {r.config.m: step_time_model(cfg.p, r.config.m, batch_s, alpha) for r in results}
    star = best_m(cfg.p, batch_s, alpha)
    fig = plots.step_time_vs_m(results, model, star if star != float("inf") else None,
                               _("Fixed batch of {batch_ms:g} ms per stage, link latency {latency_ms:g} ms: step time over m ({schedule}, p={p})").format(batch_ms=batch_ms, latency_ms=cfg.latency_ms, schedule=cfg.schedule, p=cfg.p))
    fastest = min(results, key=lambda r: r.step_time_s)
    return [fig], (_("fastest measured: m={m} ({step_time_s:.0f} ms); model optimum m* ≈ {star:.1f}").format(m=fastest.config.m, step_time_s=fastest.step_time_s * 1000.0, star=star))


# ---- the panels ---------------------------------------------------------------------------------

def _controls(values: dict, shown: Sequence[str]) -> dict:
    """One widget per shown setting; the others keep their value and are not displayed."""
    import ipywidgets as w
    # The sliders' ranges are what a panel on a laptop answers in seconds (TrainConfig's limits
    # are those of real ranks: ppedu.training.config); typed values beyond them still work.
    make = {
        "schedule": lambda v: w.Dropdown(options=SCHEDULE_NAMES, value=v, description=_("schedule")),
        "workload": lambda v: w.Dropdown(options=WORKLOADS, value=v, description=_("workload")),
        "recompute": lambda v: w.Dropdown(options=RECOMPUTE, value=v, description=_("recompute")),
        "p": lambda v: w.IntSlider(value=v, min=1, max=8, description=_("p (stages)")),
        "m": lambda v: w.IntSlider(value=v, min=1, max=64, description=_("m (micro-batches)")),
        "v": lambda v: w.IntSlider(value=v, min=1, max=4, description=_("v (chunks/rank)")),
        "tf_ms": lambda v: w.FloatSlider(value=v, min=1, max=100, step=1, description=_("t_f (ms)")),
        "tb_ms": lambda v: w.FloatSlider(value=v, min=1, max=100, step=1, description=_("t_b (ms)")),
        "tw_ms": lambda v: w.FloatSlider(value=v, min=0, max=100, step=1, description=_("t_w (ms)")),
        "latency_ms": lambda v: w.FloatSlider(value=v, min=0, max=50, step=0.5,
                                              description=_("link latency (ms)")),
        "ms": lambda v: w.Text(value=", ".join(map(str, v)), description=_("m values")),
    }
    unknown = [n for n in shown if n not in make]
    if unknown:
        raise UsageError(_("controls must be among {make} (got {unknown})").format(make=', '.join(make), unknown=', '.join(unknown)))
    out = {name: make[name](values[name]) for name in shown}
    style = label_style(widget.description for widget in out.values())
    for widget in out.values():
        widget.style = style
        widget.layout = w.Layout(width=f"{int(style['description_width'][:-2]) + 300}px")
    return out


def _panel(title: str, values: dict, shown: Sequence[str], action: Callable, label: str,
           kind: str):
    """Controls for ``shown`` + the shared Run panel; ``action(values, progress)`` returns
    (figures, text) and reports progress with TrainResults."""
    def run(current: dict, progress: Callable) -> tuple[list[go.Figure], str]:
        return action(current, lambda done, total, result: progress(done, total,
                                                                     f"m={result.config.m}"))
    return run_panel(_(title), _controls(values, shown), run, kind, base=values, label=label)


def training_panel(controls: Sequence[str] = CONTROLS, title: str = N_("Run a pipeline"),
                   group=None, **defaults: Any):
    """Controls for ``controls`` (default: schedule, p, m, v, workload, t_f, t_b, latency), a Run
    button, the summary line, the measured-vs-simulated Gantt and the memory bars.

    ``group``: a fixed cluster (tests); by default the warm cluster of the chosen p."""
    values = {**DEFAULTS, **defaults}
    make_config(values)  # fail now, in the cell, on a bad default
    return _panel(title, values, controls,
                  lambda vals, _progress: run_training(vals, group=group), N_("Run"),
                  "training")


def bubble_sweep_panel(ms: Sequence[int] = (1, 2, 4, 8, 16),
                       controls: Sequence[str] = ("schedule", "p", "tf_ms", "tb_ms"),
                       title: str = N_("Sweep m: measured bubble vs theory"), group=None,
                       **defaults: Any):
    """Run one measurement per m in ``ms`` and plot them on the theory curve, with a progress bar."""
    values = {**DEFAULTS, **defaults}
    make_config(values)

    def action(vals: dict, progress: Progress) -> tuple[list[go.Figure], str]:
        vals = dict(vals)
        return run_bubble_sweep(vals, vals.pop("ms", ms), group=group, progress=progress)
    return _panel(title, {**values, "ms": tuple(ms)}, ("ms", *controls), action, N_("Run sweep"),
                  "sweep")
