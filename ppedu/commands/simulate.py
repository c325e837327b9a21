"""``ppedu simulate``: simulate a schedule, print its Gantt chart, bubble and memory.

    ppedu simulate --schedule 1f1b -p 4 -m 8
    ppedu simulate --schedule zb1 -p 4 -m 8 --tf 1 --tb 1 --tw 1 --json
    ppedu simulate --schedule interleaved -p 4 -m 8 --v 2 --trace step.json   # ui.perfetto.dev
    ppedu simulate --schedule zbv -p 4 -m 8          # ZB-V: two chunks per GPU in a V

Times are in whatever unit you give (``--tf 1.5`` can mean 1.5 ms); the trace file reads them
as seconds.
"""

from __future__ import annotations

import argparse
import json

from ppedu.errors import UsageError, check_float
from ppedu.schedules.actions import SCHEDULE_NAMES
from ppedu.schedules import theory, build_schedule
from ppedu.schedules.builders import WEIGHT_SPLIT, default_v
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.i18n.messages import _


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schedule", default="1f1b", metavar="NAME",
                        help=_("one of {schedule_names} (default 1f1b)").format(schedule_names=', '.join(SCHEDULE_NAMES)))
    parser.add_argument("-p", type=int, default=4, help=_("pipeline stages = GPUs (1..64)"))
    parser.add_argument("-m", type=int, default=8, help=_("micro-batches (1..1024)"))
    parser.add_argument("--v", type=int, default=None,
                        help=_("model chunks per GPU: 2..16 for interleaved, looped-bfs and "
                             "interleaved-zb (default 2); zbv and dualpipev use 2; else 1"))
    parser.add_argument("--tf", type=float, default=1.0, help=_("forward time per stage"))
    parser.add_argument("--tb", type=float, default=1.0,
                        help=_("backward (input-gradient) time per stage"))
    parser.add_argument("--tw", type=float, default=None,
                        help=_("weight-gradient time per stage; a schedule that does not split "
                             "backward pays tb+tw in one B (default 1 for zb1, zb2, "
                             "interleaved-zb, zbv and dualpipev, else 0; use the same value for "
                             "every schedule you compare)"))
    parser.add_argument("--latency", type=float, default=0.0,
                        help=_("time per message between GPUs (same unit)"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON object"))
    parser.add_argument("--trace", metavar="FILE", help=_("write a Chrome/Perfetto trace"))


def run(args: argparse.Namespace) -> int:
    v = args.v if args.v is not None else default_v(args.schedule)
    tw = args.tw if args.tw is not None else (1.0 if args.schedule in WEIGHT_SPLIT else 0.0)
    costs = CostModel(t_f=check_float("tf", args.tf, 0.001, 1e6),
                      t_b=check_float("tb", args.tb, 0.001, 1e6),
                      t_w=check_float("tw", tw, 0.0, 1e6),
                      latency_s=check_float("latency", args.latency, 0.0, 1e6))
    schedule = build_schedule(args.schedule, args.p, args.m, v, costs)  # zb2: ordered for them
    result = simulate(schedule, costs)
    if args.trace:
        try:
            result.timeline.save_chrome_trace(args.trace)
        except OSError as exc:
            raise UsageError(_("trace: cannot write {trace!r} ({strerror})").format(trace=args.trace, strerror=exc.strerror)) from None
    report = _report(schedule, costs, result, args.trace)
    if args.json:
        print(json.dumps(report))
    else:
        _print_text(schedule, costs, result, report)
    return 0


def _report(schedule, costs, result, trace) -> dict:
    """The JSON object: what was simulated beside theory's closed forms (None where none applies:
    ``zb2`` away from t_F = t_B = t_W is ordered for the costs, so its peak has no closed form)."""
    p, m, v = schedule.p, schedule.m, schedule.v
    predicted = theory.theory_bubble(schedule.name, p, m, v, costs)
    peaks = None if schedule.name == "zb2" and predicted is None else \
        [theory.peak_activations(schedule.name, p, m, r, v) for r in range(p)]
    bound = theory.min_bubble_split(p, m, costs.t_f, costs.t_b, costs.t_w) \
        if schedule.name in ("zb1", "zb2") and costs.latency_s == 0 else None
    return {
        "schedule": schedule.name, "p": p, "m": m, "v": v,
        "tf": costs.t_f, "tb": costs.t_b, "tw": costs.t_w, "latency": costs.latency_s,
        "makespan": result.makespan,
        "bubble_fraction": result.bubble_fraction,
        "theory_bubble_fraction": predicted,
        "bubble_lower_bound": bound,
        "busy": result.busy, "idle": result.idle,
        "peak_inflight_microbatches": result.peak_inflight,
        "theory_peak_inflight_microbatches": peaks,
        "trace": trace,
    }


def _print_text(schedule, costs, result, report: dict) -> None:
    print(_("{name}: p={p} GPUs, m={m} micro-batches, v={v}, tf={t_f:g} tb={t_b:g} tw={t_w:g} latency={latency_s:g}").format(name=schedule.name, p=schedule.p, m=schedule.m, v=schedule.v, t_f=costs.t_f, t_b=costs.t_b, t_w=costs.t_w, latency_s=costs.latency_s))
    print(result.timeline.text_gantt(time_unit=_("time units")))
    predicted, bound = report["theory_bubble_fraction"], report["bubble_lower_bound"]
    theory_text = "n/a" if predicted is None else f"{predicted:.4f}"
    print(_("\nmakespan          {makespan:g}").format(makespan=result.makespan))
    print(_("bubble fraction   {bubble_fraction:.4f} simulated, {theory_text} theory (idle GPU time / (GPUs x makespan))").format(bubble_fraction=result.bubble_fraction, theory_text=theory_text))
    if bound is not None:
        print(_("lower bound       {bound:.4f} (no one-chunk order of F, B and W beats it in a flushed step: theory.min_bubble_split)").format(bound=bound))
    for r in range(schedule.p):
        print(_("GPU{r}: busy {busy:g}  idle {idle:g}  peak activations held: {held}").format(r=r, busy=result.busy[r], idle=result.idle[r], held=(_("{n} micro-batch") if result.peak_inflight[r] == 1 else _("{n} micro-batches")).format(n=result.peak_inflight[r])))
    if report["trace"]:
        print(_("trace written to {trace} (open it in ui.perfetto.dev)").format(trace=report['trace']))
