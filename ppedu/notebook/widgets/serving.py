"""Chapter 5's panel: pick a batching policy, stages, batches in flight and a workload, press Run.

Read top-down:
  make_setup             widget values -> (requests, BatchingConfig, p, workload, cost); UsageError
                         (step_ms is t0, the weight-read part of a step; c_ms the price per token)
  summary_line           one line: throughput, TTFT, TPOT, E2E p99, decode bubble vs theory, tokens
  run_serving            one run: [timeline, occupancy], summary line
  run_policy_comparison  static / dynamic / continuous on the same workload: [bars, occupancy], line
  serving_panel          ipywidgets controls + Run button; nothing runs when a slider moves

The button (``ppedu.notebook.widgets.panel.run_panel``) calls the plain functions above; tests call them directly,
because an exception inside a widget callback never fails a notebook cell. Bad values come back as
"⚠ one-line message".
"""

from __future__ import annotations

import dataclasses
from typing import Any

import plotly.graph_objects as go

from ppedu.notebook.plots import serving as plots_serving
from ppedu.serving.scheduler import POLICIES, BatchingConfig, check_pipeline
from ppedu.errors import check_choice, check_float, check_int, check_names
from ppedu.notebook.widgets.panel import label_style, number, panel_action, run_panel
from ppedu.serving.server import serve
from ppedu.model.workloads import WORKLOADS
from ppedu.serving.metrics import ServingResult
from ppedu.serving.cost import ServingCost
from ppedu.serving.workload import LENGTH_DISTRIBUTIONS, Request, make_workload
from ppedu.runtime import cluster
from ppedu.i18n.messages import N_, _

_BATCHING, _COST = BatchingConfig(), ServingCost()     # the defaults' one home
# The panel spells "off" / "unlimited" as 0 where BatchingConfig has None.
DEFAULTS: dict[str, Any] = {"policy": _BATCHING.policy, "p": 2, "inflight": _BATCHING.inflight,
                            "max_batch": _BATCHING.max_batch, "requests": 32, "lengths": "exponential",
                            "output_len": 8, "prompt_len": 4, "rate": 0.0, "workload": "timed",
                            "step_ms": round(_COST.t0_s * 1e3, 2), "c_ms": round(_COST.c_s * 1e3, 3),
                            "token_budget": _BATCHING.token_budget or 0, "kv_blocks": _BATCHING.kv_blocks or 0,
                            "block_size": _BATCHING.block_size, "seed": 0}
# The sliders stop at 4 stages (and so K <= 4): each stage is a warm rank process, and more ranks
# than a laptop has cores only share them; typed values up to MAX_RANKS still pass check_pipeline.
SLIDER_MAX_P = 4


def make_setup(values: dict) -> tuple[list[Request], BatchingConfig, int, str, ServingCost]:
    """Validate widget values (missing keys take DEFAULTS); the UsageError names the setting."""
    check_names("serving_panel", values, DEFAULTS)
    v = {**DEFAULTS, **values}
    config = BatchingConfig(v["policy"], v["max_batch"], v["inflight"],
                            token_budget=v["token_budget"] or None, kv_blocks=v["kv_blocks"] or None,
                            block_size=v["block_size"])
    workload = check_choice("workload", v["workload"], WORKLOADS)
    cost = ServingCost(t0_s=check_float("step_ms", v["step_ms"], 0.1, 1000.0) / 1e3,
                       c_s=check_float("c_ms", v["c_ms"], 0.0, 1000.0) / 1e3)
    requests = make_workload(check_int("requests", v["requests"], 1, 500), rate=v["rate"],
                             output_len=v["output_len"], prompt_len=v["prompt_len"],
                             output_dist=check_choice("lengths", v["lengths"], LENGTH_DISTRIBUTIONS),
                             seed=v["seed"])
    p = check_pipeline(requests, config, v["p"], "inflight K", p_name="p (stages)")   # before the cluster starts
    return requests, config, p, workload, cost


def _ms(x: float | None) -> str:
    return number(x, ".0f", 1e3, " ms")


def summary_line(result: ServingResult) -> str:
    """One line with the numbers the chapter talks about."""
    c = result.config
    match = {True: _("yes"), False: _("NO"), None: _("not checked")}[result.tokens_match_reference]
    bubble = result.decode_bubble_fraction()
    return _("{policy} p={p} K={inflight} max batch {max_batch} ({source}): {throughput:.0f} tok/s · "
             "TTFT p50 {ttft} · TPOT p50 {tpot} · E2E p99 {e2e} · decode bubble {bubble} (theory "
             "{theory:.2f}) · batches {occupancy:.0%} full · KV peak {kv} blocks, {preemptions} "
             "preemptions · tokens match greedy: {match}").format(
        policy=c.policy, p=result.p, inflight=c.inflight, max_batch=c.max_batch,
        source=_(result.source), throughput=result.throughput_tok_s, ttft=_ms(result.ttft.p50),
        tpot=_ms(result.tpot.p50), e2e=_ms(result.e2e.p99),
        bubble="n/a" if bubble is None else f"{bubble:.2f}", theory=result.theory_decode_bubble,
        occupancy=result.mean_occupancy(), kv=result.kv.kv_peak_blocks, preemptions=result.kv.preemptions,
        match=match)


def _group(p: int, group):
    return group if group is not None else cluster.get_cluster(p)


@panel_action
def run_serving(values: dict, group=None) -> tuple[list[go.Figure], str]:
    """One run on the warm cluster of p ranks: [timeline, occupancy over time], summary line."""
    requests, config, p, workload, cost = make_setup(values)
    result = serve(requests, config, p, workload=workload, cost=cost, group=_group(p, group))
    name = f"{config.policy}, p={p}, K={config.inflight}"
    return [plots_serving.serving_gantt(result, _("{name}: what each stage did").format(name=name)),
            plots_serving.occupancy_over_time({name: result},
                                              _("{name}: requests per iteration over time").format(name=name))], \
        summary_line(result)


@panel_action
def run_policy_comparison(values: dict, group=None) -> tuple[list[go.Figure], str]:
    """The three policies on the same workload (values' policy is ignored): [throughput and
    latency bars, occupancy over time], one line with each policy's throughput and E2E p99."""
    requests, config, p, workload, cost = make_setup(values)
    results = {}
    for policy in POLICIES:
        cfg = dataclasses.replace(config, policy=policy)
        results[policy] = serve(requests, cfg, p, workload=workload, cost=cost, group=_group(p, group))
    tag = _("p={p}, K={inflight}, max batch {max_batch}, {requests} requests").format(
        p=p, inflight=config.inflight, max_batch=config.max_batch, requests=len(requests))
    ratio = results["continuous"].throughput_tok_s / results["static"].throughput_tok_s
    text = " · ".join(f"{k}: {r.throughput_tok_s:.0f} tok/s, E2E p99 {_ms(r.e2e.p99)}" for k, r in results.items())
    match = all(r.tokens_match_reference for r in results.values())
    rows = {k: r.to_dict() for k, r in results.items()}   # the plot takes the JSON, as the CLI prints it
    return [plots_serving.policy_comparison(rows, _("Batching policies ({tag})").format(tag=tag)),
            plots_serving.occupancy_over_time(results, _("Requests per iteration ({tag})").format(tag=tag))], \
        _("{text} · continuous/static = {ratio:.2f}x · tokens match greedy: {match}").format(
            text=text, ratio=ratio, match=_("yes") if match else _("NO"))


def serving_panel(title: str = N_("Serve a workload on a pipeline"), group=None, **defaults: Any):
    """Controls (policy, p, K, max batch, requests, lengths, rate, workload), a "compare all
    policies" switch and a Run button. ``group``: a fixed cluster (tests); else get_cluster(p)."""
    import ipywidgets as w

    values = {**DEFAULTS, **defaults}
    make_setup(values)                                    # a bad default fails in the cell, now
    controls = {
        "policy": w.Dropdown(options=POLICIES, value=values["policy"], description=_("policy")),
        "p": w.IntSlider(values["p"], min=1, max=SLIDER_MAX_P, description=_("p (stages)")),
        "inflight": w.IntSlider(values["inflight"], min=1, max=SLIDER_MAX_P, description=_("K (in flight)")),
        "max_batch": w.IntSlider(values["max_batch"], min=1, max=32, description=_("max batch")),
        "requests": w.IntSlider(values["requests"], min=1, max=128, description=_("requests")),
        "lengths": w.Dropdown(options=LENGTH_DISTRIBUTIONS, value=values["lengths"],
                              description=_("output lengths")),
        "rate": w.FloatText(values["rate"], description=_("arrivals/s (0: all at once)")),
        "token_budget": w.IntText(values["token_budget"], description=_("token budget (0: off)")),
        "kv_blocks": w.IntText(values["kv_blocks"], description=_("KV blocks (0: unlimited)")),
        "workload": w.Dropdown(options=WORKLOADS, value=values["workload"], description=_("workload")),
    }
    compare = w.Checkbox(False, description=_("compare all three policies"))
    style = label_style(c.description for c in controls.values())   # no label cut off with "…"
    layout = w.Layout(width=f"{int(style['description_width'][:-2]) + 260}px")
    for c in (*controls.values(), compare):
        c.style, c.layout = style, layout

    def action(current: dict, _progress) -> tuple[list[go.Figure], str]:
        run = run_policy_comparison if compare.value else run_serving
        return run(current, group=group)

    box = run_panel(_(title), controls, action, "serving", base=values, extras=[compare],
                    busy=N_("<i>serving on the warm cluster… (the first run starts the ranks)</i>"))
    box.compare = compare
    return box
