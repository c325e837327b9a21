"""Chapter 3's planning panel: a real model, GPUs and a layout -> memory per stage and the bubble.

    plan_panel(model="gpt3-175b", tp=8, p=8, m=64)   # dropdowns and sliders, a Plan button

``run_plan(values)`` is the button's work, a plain function tests call: it returns
([stacked memory bars per stage, bubble-vs-memory trade-off over m], summary line), or
([], "⚠ one line") on bad input. Nothing runs on a slider tick; planning is arithmetic
(``ppedu.planner``), so the button answers at once, with no ranks.
"""

from __future__ import annotations

from typing import Any, Callable

import plotly.graph_objects as go

from ppedu.errors import check_names
from ppedu.notebook.widgets.panel import guarded, run_panel
from ppedu.notebook.plots.memory import plan_memory, plan_tradeoff
from ppedu.planner.models import MODELS, get_model
from ppedu.planner.plan import CHUNKED, GIB, Layout, choose_m, plan
from ppedu.i18n.messages import N_, _

DEFAULTS: dict[str, Any] = {"model": "gpt3-175b", "tp": 8, "p": 8, "dp": 1, "m": 64,
                            "micro_batch_size": 1, "schedule": "1f1b", "v": 1,
                            "recompute": "selective", "sequence_parallel": True, "zero1": False,
                            "gpu_memory_gb": 80.0, "max_bubble": 0.1}
SCHEDULES = ("1f1b", "gpipe", "interleaved", "zb1", "zb2", "interleaved-zb", "zbv", "dualpipev")


def make_layout(values: dict) -> tuple[Any, Layout, float]:
    """(model spec, Layout, bubble target) from panel values; missing keys take DEFAULTS."""
    check_names("plan_panel", values, DEFAULTS)
    v = {**DEFAULTS, **values}
    spec = get_model(v["model"])
    layout = Layout(tp=v["tp"], pp=v["p"], dp=v["dp"], m=v["m"], micro_batch_size=v["micro_batch_size"],
                    schedule=v["schedule"], v=v["v"] if v["schedule"] in CHUNKED else 1,
                    recompute=v["recompute"], sequence_parallel=bool(v["sequence_parallel"]) and v["tp"] > 1,
                    zero1=bool(v["zero1"]), gpu_memory_gb=v["gpu_memory_gb"])
    return spec, layout, v["max_bubble"]


def summary(result: dict) -> str:
    """One line: GPUs, the busiest GPU's GiB against capacity, the bubble, fits or why not."""
    gpus = result["gpus"]
    return _("{model} on {gpus} GPUs: busiest GPU {busiest:.1f} GiB of {capacity:g}, bubble {bubble:.1%} "
             "— {verdict} ({reason})").format(
        model=result["model"]["name"], gpus=gpus, busiest=result["total_bytes_per_gpu"] / GIB,
        capacity=result["layout"]["gpu_memory_gb"], bubble=result["bubble_fraction"],
        verdict=_("fits") if result["fits"] else _("does NOT fit"), reason=result["reason"])


def run_plan(values: dict) -> tuple[list[go.Figure], str]:
    """The button: [memory per stage, bubble vs memory over m at this global batch], summary."""
    def go_() -> tuple[list[go.Figure], str]:
        spec, layout, target = make_layout(values)
        result = plan(spec, layout)
        search = choose_m(spec, layout, result["global_batch"], target)
        best = search["chosen"]
        pick = _("; smallest m with bubble ≤ {target:.0%} that fits: ").format(target=target) + \
            (f"m={best['layout']['m']} (b={best['layout']['micro_batch_size']})" if best else _("none"))
        return [plan_memory(result), plan_tradeoff(search, layout.gpu_memory_gb)], summary(result) + pick
    return guarded(go_)


def plan_panel(**defaults: Any):
    """Model, tp, p, dp, m, micro-batch size, schedule, v, recompute, sequence parallelism, GPU
    memory, bubble target, and a Plan button."""
    import ipywidgets as w
    values = {**DEFAULTS, **defaults}
    make_layout(values)                       # a bad default fails in the cell, now
    style, layout = {"description_width": "205px"}, w.Layout(width="475px")   # "b (sequences / micro-batch)" in full
    ints = {"tp": (_("tp (tensor parallel)"), 1, 16), "p": (_("p (pipeline stages)"), 1, 128),
            "dp": (_("dp (data parallel)"), 1, 512), "m": (_("m (micro-batches)"), 1, 1024),
            "micro_batch_size": (_("b (sequences / micro-batch)"), 1, 64), "v": (_("v (chunks/rank)"), 1, 8)}
    controls = {"model": w.Dropdown(options=list(MODELS), value=values["model"], description=_("model"))}
    controls |= {k: w.BoundedIntText(values[k], min=lo, max=hi, description=d) for k, (d, lo, hi) in ints.items()}
    controls |= {"schedule": w.Dropdown(options=SCHEDULES, value=values["schedule"], description=_("schedule")),
                 "recompute": w.Dropdown(options=("none", "selective", "full"), value=values["recompute"],
                                         description=_("recompute")),
                 "sequence_parallel": w.Checkbox(values["sequence_parallel"], description=_("sequence parallel")),
                 "zero1": w.Checkbox(values["zero1"], description=_("ZeRO-1 over dp")),
                 "gpu_memory_gb": w.FloatText(values["gpu_memory_gb"], description=_("GPU memory (GiB)")),
                 "max_bubble": w.FloatSlider(values["max_bubble"], min=0.01, max=0.5, step=0.01,
                                             description=_("bubble target"))}
    for c in controls.values():
        c.style, c.layout = style, layout

    def action(current: dict, _progress: Callable) -> tuple[list[go.Figure], str]:
        return run_plan(current)
    return run_panel(_("Plan a real model: memory per stage and the bubble"), controls, action, "plan",
                     base=values, label=N_("Plan"))
