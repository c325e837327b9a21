"""`ppedu serve-bench`: serve a seeded workload on a p-stage pipeline and print throughput,
latency percentiles and the bubble -- measured on real ranks, or simulated (``--simulate``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from ppedu.serving.scheduler import POLICIES
from ppedu.serving.workload import LENGTH_DISTRIBUTIONS

WORKLOADS = ("model", "timed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", default="continuous", help=f"one of {', '.join(POLICIES)}")
    parser.add_argument("-p", type=int, default=2, help="pipeline stages (ranks), 1..16 (simulated: 1..1024)")
    parser.add_argument("--inflight", type=int, default=1,
                        help="K batches circulating at once, 1..p (K=1 shows the decode bubble)")
    parser.add_argument("--requests", type=int, default=32, help="number of requests (default 32)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="Poisson arrivals per second; 0 = all arrive at t=0 (default)")
    parser.add_argument("--max-batch", type=int, default=8, help="requests per batch, 1..4096 (default 8)")
    parser.add_argument("--lengths", default="longtail",
                        help=f"output-length distribution: {', '.join(LENGTH_DISTRIBUTIONS)} (default longtail)")
    parser.add_argument("--output-len", type=int, default=8, help="mean output tokens (default 8)")
    parser.add_argument("--prompt-len", type=int, default=4, help="prompt tokens (default 4)")
    parser.add_argument("--workload", default="timed",
                        help="timed (each stage step lasts a fixed time, like a GPU kernel: faithful "
                             "on any CPU) or model (the tiny GPT, real compute)")
    parser.add_argument("--step-ms", type=float, default=10.0, help="timed: ms per decode step per stage")
    parser.add_argument("--prefill-ms-per-token", type=float, default=0.5,
                        help="timed: extra ms per prompt token in a step")
    parser.add_argument("--hop-ms", type=float, default=1.0,
                        help="--simulate: ms per message between stages (a real run measures it)")
    parser.add_argument("--max-queue-ms", type=float, default=20.0, help="dynamic: max queue delay in ms")
    parser.add_argument("--seed", type=int, default=0, help="workload seed (default 0)")
    parser.add_argument("--simulate", action="store_true",
                        help="discrete-event simulation instead of real ranks (same scheduler)")
    parser.add_argument("--trace", metavar="FILE", help="write a Chrome/Perfetto trace of the run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from ppedu.serving.scheduler import BatchingConfig
    from ppedu.errors import check_choice, check_float, check_int
    from ppedu.serving.simulator import ServingCost, simulate_serving
    from ppedu.serving.workload import make_workload

    check_int("p", args.p, 1, 1024 if args.simulate else 16)
    check_choice("workload", args.workload, WORKLOADS)
    check_int("requests", args.requests, 1, 100_000 if args.simulate else 2_000)
    config = BatchingConfig(args.policy, args.max_batch, args.inflight,
                            max_queue_delay_s=check_float("max_queue_ms", args.max_queue_ms, 0, 1e6) / 1e3)
    check_int("inflight", args.inflight, 1, args.p)
    cost = ServingCost(t_decode_s=check_float("step_ms", args.step_ms, 0, 10_000) / 1e3,
                       t_prefill_token_s=check_float("prefill_ms_per_token", args.prefill_ms_per_token,
                                                     0, 10_000) / 1e3,
                       t_hop_s=check_float("hop_ms", args.hop_ms, 0, 10_000) / 1e3)
    requests = make_workload(args.requests, rate=args.rate, output_len=args.output_len,
                             output_dist=check_choice("lengths", args.lengths, LENGTH_DISTRIBUTIONS),
                             prompt_len=args.prompt_len, seed=args.seed)
    if args.simulate:
        result, simulated = simulate_serving(requests, config, args.p, cost), None
    else:
        result = _measure(requests, config, args.p, args.workload, cost)
        if result is None:          # a torchrun rank other than 0: rank 0 prints
            return 0
        hop = result.to_dict()["hop_s"]
        simulated = simulate_serving(requests, config, args.p,
                                     dataclasses.replace(cost, t_hop_s=hop or 0.0)).to_dict()
    report = result.to_dict()
    if simulated is not None and args.workload == "timed":
        report["simulated_throughput_tok_s"] = simulated["throughput_tok_s"]
        report["simulated_bubble_fraction"] = simulated["bubble_fraction"]
    if args.trace:
        result.timeline.save_chrome_trace(args.trace)
    if args.json:
        print(json.dumps(report))
        return 0
    print(result.summary())
    print(f"decode bubble {_f(report['decode_bubble_fraction'])} measured, "
          f"{report['theory_decode_bubble']:.3f} theory (p-K)/p")
    if "simulated_throughput_tok_s" in report:
        print(f"simulator     {report['simulated_throughput_tok_s']:.1f} tokens/s, bubble "
              f"{report['simulated_bubble_fraction']:.3f} (given the measured hop "
              f"{(report['hop_s'] or 0.0) * 1e3:.2f} ms)")
    if args.trace:
        print(f"trace written to {args.trace} (open it in ui.perfetto.dev)")
    return 0


def _measure(requests, config, p: int, workload: str, cost):
    from ppedu.runtime.cluster import connect
    from ppedu.serving.server import serve
    print(f"starting {p} ranks ...", file=sys.stderr, flush=True)
    group = connect(p)
    print(f"serving {len(requests)} requests ({config.policy}, K={config.inflight}), then checking "
          "their tokens against single-process greedy decoding ...", file=sys.stderr, flush=True)
    result = serve(requests, config, p, workload=workload, cost=cost, group=group)
    return result if getattr(group, "is_driver", True) else None


def _f(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"
