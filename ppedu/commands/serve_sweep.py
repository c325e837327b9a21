"""`ppedu serve-sweep`: one serve-bench run per arrival rate, with goodput under latency targets.

    ppedu serve-sweep --rates 5,20,80,320 --slo-ttft 0.5 --slo-tpot 0.1 --json

Each point: the rate, output tokens/s, goodput (requests per second meeting *both* targets, as
vLLM's benchmark reports it; DistServe (OSDI'24) calls goodput the highest rate at which a target
share of requests meets them), the share meeting them, TTFT/TPOT percentiles. Below the knee
goodput follows the rate; past it, queues grow, TTFT explodes and goodput falls while the
throughput saturates. Same flags as serve-bench (policy, K, token budget, KV blocks, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from ppedu.commands.serve_bench import add_server_arguments, bench, setup
from ppedu.errors import UsageError, check_float
from ppedu.runtime.cluster import connect
from ppedu.i18n.messages import _

POINT_KEYS = ("throughput_tok_s", "throughput_req_s", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s",
              "tpot_p50_s", "tpot_p90_s", "tpot_p99_s", "bubble_fraction", "preemptions",
              "tokens_match_reference")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_server_arguments(parser)
    parser.add_argument("--rates", default="5,20,80,320",
                        help=_("comma-separated Poisson arrival rates, requests/s (default 5,20,80,320)"))
    parser.add_argument("--slo-ttft", type=float, default=0.5, help=_("TTFT target in seconds (default 0.5)"))
    parser.add_argument("--slo-tpot", type=float, default=0.1, help=_("TPOT target in seconds (default 0.1)"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON object"))


def parse_rates(text: str) -> list[float]:
    """'5,20,80' -> [5.0, 20.0, 80.0]; each rate a positive number."""
    try:
        values = [float(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise UsageError(_("rates must be comma-separated numbers > 0, e.g. 5,20,80 (got {text!r})").format(text=text)) from None
    if not values:
        raise UsageError(_("rates must name at least one rate, e.g. 5,20,80 (got {text!r})").format(text=text))
    return [check_float("rate", v, 1e-6, 1e6) for v in values]


def sweep(args: argparse.Namespace) -> dict | None:
    """Every point of the sweep (None on a torchrun rank other than 0)."""
    rates = parse_rates(args.rates)
    slo_ttft = check_float("slo_ttft", args.slo_ttft, 0.0, 3600.0)
    slo_tpot = check_float("slo_tpot", args.slo_tpot, 0.0, 3600.0)
    runs = [(rate, setup(args, rate)) for rate in rates]      # every flag checked before ranks start
    group = None
    if not args.simulate:
        print(_("starting {p} ranks ...").format(p=args.p), file=sys.stderr, flush=True)
        group = connect(args.p)
    points = []
    for rate, prepared in runs:
        result, sim = bench(args, prepared, group, slo=(slo_ttft, slo_tpot))
        if result is None:
            return None
        report = result.to_dict()
        point = {"rate": rate, **{k: report[k] for k in POINT_KEYS}, **asdict(result.goodput(slo_ttft, slo_tpot))}
        if sim is not None:                          # measured: what the calibrated simulator predicts
            point["simulated_goodput_req_s"] = sim.goodput_req_s
        points.append(point)
    return {"policy": args.policy, "p": args.p, "inflight": args.inflight, "max_batch": args.max_batch,
            "token_budget": args.token_budget, "kv_blocks": args.kv_blocks,
            "source": "simulated" if args.simulate else args.workload, "requests": args.requests,
            "slo_ttft_s": slo_ttft, "slo_tpot_s": slo_tpot, "points": points}


def run(args: argparse.Namespace) -> int:
    out = sweep(args)
    if out is None:
        return 0
    if args.json:
        print(json.dumps(out))
        return 0
    print(_("{policy} batching, p={p}, K={inflight}, max batch {max_batch} ({source}); targets TTFT <= {slo_ttft_s:g} s, TPOT <= {slo_tpot_s:g} s").format(policy=out['policy'], p=out['p'], inflight=out['inflight'], max_batch=out['max_batch'], source=_("simulated") if out['source'] == "simulated" else out['source'], slo_ttft_s=out['slo_ttft_s'], slo_tpot_s=out['slo_tpot_s']))
    sim = all("simulated_goodput_req_s" in pt for pt in out["points"])
    print(f"{'rate/s':>8} {'tok/s':>8} {_('goodput req/s'):>14} {_('met'):>6} {'TTFT p99':>10} {'TPOT p99':>10}"
          + (f" {_('simulated goodput'):>18}" if sim else ""))
    for pt in out["points"]:
        print(f"{pt['rate']:>8g} {pt['throughput_tok_s']:>8.1f} {pt['goodput_req_s']:>14.2f} "
              f"{pt['slo_attainment']:>6.0%} {pt['ttft_p99_s'] * 1e3:>8.0f}ms "
              f"{(pt['tpot_p99_s'] or 0) * 1e3:>8.1f}ms"
              + (f" {pt['simulated_goodput_req_s']:>18.2f}" if sim else ""))
    return 0
