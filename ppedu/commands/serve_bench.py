"""`ppedu serve-bench`: serve a seeded workload on a p-stage pipeline and print throughput,
latency percentiles, the bubble and the KV cache -- measured on real ranks, or simulated
(``--simulate``). A real run also prints what the simulator predicts for it, given the message
and driver overheads the run measured and its step cost: a timed run's price, or the ``t0 + c x
tokens`` fitted through a model run's own steps (``ppedu.serving.calibrate.simulation_cost``)."""

from __future__ import annotations

import argparse
import json
import sys

from ppedu.serving.cost import ServingCost
from ppedu.serving.scheduler import (MAX_QUEUE_DELAY_S, MAX_RANKS, MAX_SIMULATED_STAGES, POLICIES, BatchingConfig,
                                     check_pipeline)
from ppedu.serving.workload import LENGTH_DISTRIBUTIONS, make_workload
from ppedu.model.workloads import WORKLOADS
from ppedu.errors import check_choice, check_float, check_int
from ppedu.serving.calibrate import predicted, simulation_cost
from ppedu.serving.simulator import simulate_serving
from ppedu.runtime.cluster import connect
from ppedu.i18n.messages import _

_COST, _BATCHING = ServingCost(), BatchingConfig()       # the defaults: one home each


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_server_arguments(parser)
    parser.add_argument("--rate", type=float, default=0.0,
                        help=_("Poisson arrivals per second; 0 = all arrive at t=0 (default)"))
    parser.add_argument("--trace", metavar="FILE", help=_("write a Chrome/Perfetto trace of the run"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON object"))


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags serve-bench and serve-sweep share: server, workload, cost model."""
    a = parser.add_argument
    b = _BATCHING
    a("--policy", default=b.policy, help=_("one of {policies} (default {default})").format(policies=', '.join(POLICIES), default=b.policy))
    a("-p", type=int, default=2, help=_("pipeline stages (ranks), 1..{real} (simulated: 1..{simulated})").format(real=MAX_RANKS, simulated=MAX_SIMULATED_STAGES))
    a("--inflight", type=int, default=b.inflight,
      help=_("K batches circulating at once, 1..p (K=1 shows the decode bubble)"))
    a("--max-batch", type=int, default=b.max_batch, help=_("requests per batch in flight, 1..4096 (default {default})").format(default=b.max_batch))
    a("--token-budget", type=int, help=_("chunked prefill: at most N new tokens per iteration (>= max batch)"))
    a("--kv-blocks", type=int, help=_("paged KV cache: blocks per stage (default: enough for everyone)"))
    a("--block-size", type=int, default=b.block_size, help=_("tokens per KV block (default {default})").format(default=b.block_size))
    a("--requests", type=int, default=32, help=_("number of requests (default 32)"))
    a("--lengths", default="exponential",
      help=_("output-length distribution: {length_distributions} (default exponential)").format(length_distributions=', '.join(LENGTH_DISTRIBUTIONS)))
    a("--sigma", type=float, default=1.0, help=_("lognormal spread (log-space std), 0..4 (default 1)"))
    a("--output-len", type=int, default=8, help=_("mean output tokens (default 8)"))
    a("--prompt-len", type=int, default=4, help=_("mean prompt tokens (default 4)"))
    a("--prompt-lengths", default="fixed", help=_("prompt-length distribution (default fixed)"))
    a("--workload", default="timed", help=_("timed (each stage step lasts t0 + c x tokens, like a GPU "
      "kernel: faithful on any CPU) or model (the tiny GPT, real compute)"))
    a("--t0-ms", type=float, default=_COST.t0_s * 1e3,
      help=_("timed: ms per stage step for reading the weights (default {t0_s:.2f}: Llama-2-7B, A100, p=2, x3)").format(t0_s=_COST.t0_s * 1000.0))
    a("--c-ms", type=float, default=_COST.c_s * 1e3,
      help=_("timed: ms per token in the step (default {c_s:.3f})").format(c_s=_COST.c_s * 1000.0))
    a("--hop-ms", type=float, default=1.0, help=_("--simulate: ms per message between stages"))
    a("--max-queue-ms", type=float, default=b.max_queue_delay_s * 1e3,
      help=_("dynamic: max queue delay in ms (default {default:g})").format(default=b.max_queue_delay_s * 1e3))
    a("--seed", type=int, default=0, help=_("workload seed (default 0)"))
    a("--simulate", action="store_true", help=_("discrete-event simulation instead of real ranks (same scheduler)"))


def setup(args: argparse.Namespace, rate: float):
    """(requests, BatchingConfig, ServingCost) from the shared flags, each checked here, once,
    before any rank starts (p's range: ``check_pipeline``); UsageError on bad values."""
    check_choice("workload", args.workload, WORKLOADS)
    # real ranks run every request and check its tokens against single-process greedy decoding
    check_int("requests", args.requests, 1, 100_000 if args.simulate else 2_000)
    config = BatchingConfig(args.policy, args.max_batch, args.inflight,
                            max_queue_delay_s=check_float("max_queue_ms", args.max_queue_ms, 0,
                                                          MAX_QUEUE_DELAY_S * 1e3) / 1e3,
                            token_budget=args.token_budget, kv_blocks=args.kv_blocks,
                            block_size=args.block_size)
    ms = lambda name, lo=0: check_float(name, getattr(args, name), lo, 10_000) / 1e3     # noqa: E731
    cost = ServingCost(t0_s=ms("t0_ms", 0.001), c_s=ms("c_ms"), t_hop_s=ms("hop_ms"),  # a step takes time
                       t_return_s=ms("hop_ms"))
    requests = make_workload(args.requests, rate=rate, output_len=args.output_len,
                             output_dist=check_choice("lengths", args.lengths, LENGTH_DISTRIBUTIONS),
                             prompt_len=args.prompt_len,
                             prompt_dist=check_choice("prompt_lengths", args.prompt_lengths,
                                                      LENGTH_DISTRIBUTIONS),
                             seed=args.seed, sigma=args.sigma)
    check_pipeline(requests, config, args.p, simulated=args.simulate)
    return requests, config, cost


def bench(args: argparse.Namespace, prepared: tuple, group=None, slo: tuple[float, float] | None = None):
    """One run of ``prepared`` = ``setup(args, rate)``: (ServingResult, the calibrated simulator's
    Prediction or None), or (None, None) on a torchrun rank other than 0. ``slo`` (TTFT, TPOT
    targets, s): a measured run's prediction adds the simulated goodput too."""
    requests, config, cost = prepared
    if args.simulate:
        return simulate_serving(requests, config, args.p, cost), None
    result = _measure(requests, config, args.p, args.workload, cost, group)
    if result is None:
        return None, None
    sim_cost = simulation_cost(result, cost)      # timed: its price; model: its own fitted t0, c
    return result, None if sim_cost is None else predicted(requests, config, args.p, sim_cost, result, slo=slo)


def to_json(result, sim=None) -> dict:
    """``--json``'s object: the run's numbers, and beside a measured run the simulator's."""
    report = result.to_dict()
    if sim is not None:
        report["simulated_step_cost"] = "price" if result.source == "timed" else "fitted"
        report["simulated_throughput_tok_s"] = sim.throughput_tok_s
        report["simulated_bubble_fraction"] = sim.bubble_fraction
        if sim.goodput_req_s is not None:
            report["simulated_goodput_req_s"] = sim.goodput_req_s
    return report


def run(args: argparse.Namespace) -> int:
    result, sim = bench(args, setup(args, args.rate))
    if result is None:              # a torchrun rank other than 0: rank 0 prints
        return 0
    if args.trace:
        result.timeline.save_chrome_trace(args.trace)
    if args.json:
        print(json.dumps(to_json(result, sim)))
        return 0
    print(result.summary())
    print(_("decode bubble {measured} measured, {theory_decode_bubble:.3f} theory (p-K)/p").format(measured=_f(result.decode_bubble_fraction()), theory_decode_bubble=result.theory_decode_bubble))
    if sim is not None:
        fit, o = result.step_fit, result.overheads
        steps = ("" if result.source == "timed" else
                 _("this run's fitted steps, {t0:.2f} ms + {c:.3f} ms/token, and ").format(
                     t0=fit.t0_s * 1e3, c=fit.c_s * 1e3))
        print(_("simulator     {simulated_throughput_tok_s:.1f} tokens/s, bubble {simulated_bubble_fraction:.3f} (given {steps}the measured overheads: hop {hop} ms, return {ret} ms, driver {driver} ms)").format(simulated_throughput_tok_s=sim.throughput_tok_s, simulated_bubble_fraction=sim.bubble_fraction, steps=steps, hop=_f(o.hop_s, 1e3), ret=_f(o.return_s, 1e3), driver=_f(o.driver_s, 1e3)))
    if args.trace:
        print(_("trace written to {trace} (open it in ui.perfetto.dev)").format(trace=args.trace))
    return 0


def _measure(requests, config, p: int, workload: str, cost, group=None):
    from ppedu.serving.server import serve  # torch: kept out of --help and --simulate runs
    if group is None:
        print(_("starting {p} ranks ...").format(p=p), file=sys.stderr, flush=True)
        group = connect(p)
    print(_("serving {requests} requests ({policy}, K={inflight}), then checking their tokens against single-process greedy decoding ...").format(requests=len(requests), policy=config.policy, inflight=config.inflight), file=sys.stderr, flush=True)
    result = serve(requests, config, p, workload=workload, cost=cost, group=group)
    return result if getattr(group, "is_driver", True) else None


def _f(x, scale: float = 1.0) -> str:
    return "n/a" if x is None else f"{x * scale:.3f}"
