"""Chapter 5's experiments, each a function the notebook calls in one line (measured or simulated).

Read top-down:
  run                     one run: measured (timed/model, on ranks) or simulated, as a report dict
  inflight_vs_one_batch   K batches of B in flight vs one batch of K*B, same concurrency and KV
  chunked_prefill         long prompts with and without a token budget: TPOT p99, step imbalance
  kv_budget               shrinking KV blocks: peak blocks, preemptions, waste vs reserving max length
  length_variance         continuous over static as the output lengths spread (lognormal sigma)
  rate_sweep              goodput vs arrival rate under SLOs, per labelled configuration
Each is measured on real ranks (timed workload, with the calibrated simulator's prediction beside
every measured number) or, with ``simulate=True``, simulated.
"""

from __future__ import annotations

from dataclasses import asdict

from ppedu.errors import check_int
from ppedu.i18n.messages import _
from ppedu.serving.calibrate import predicted
from ppedu.serving.cost import ServingCost, inflight_gain
from ppedu.serving.scheduler import BatchingConfig
from ppedu.serving.simulator import simulate_serving
from ppedu.serving.workload import Request, describe, make_workload


def run(requests: list[Request], config: BatchingConfig, p: int, cost: ServingCost,
        group=None, simulate: bool = False, slo: tuple[float, float] | None = None) -> dict:
    """Serve on ``group`` with the timed workload (adds ``simulated_*`` from the calibrated
    simulator), or simulate (``simulate=True``). ``slo`` = (TTFT, TPOT) targets in seconds adds
    the goodput (measured and simulated). The result object rides along as ``_result``."""
    if simulate:
        result = simulate_serving(requests, config, p, cost)
        return {**result.to_dict(), **(asdict(result.goodput(*slo)) if slo else {}), "_result": result}
    from ppedu.serving.server import serve  # torch: simulated studies run without it
    result = serve(requests, config, p, workload="timed", cost=cost, group=group)
    sim = predicted(requests, config, p, cost, result, slo=slo)
    return {**result.to_dict(), **(asdict(result.goodput(*slo)) if slo else {}), "_result": result,
            "simulated_throughput_tok_s": sim.throughput_tok_s,
            "simulated_bubble_fraction": sim.bubble_fraction,
            "simulated_decode_bubble_fraction": sim.decode_bubble_fraction,
            "simulated_goodput_req_s": sim.goodput_req_s}


def measured_label(group, p: int) -> str:
    """How the measured points were measured, for a legend: workload, ranks, backend."""
    backend = getattr(group, "backend", None) or "gloo"
    return _("measured (timed workload, {p} ranks, {backend})").format(p=p, backend=backend)


def inflight_vs_one_batch(p: int, batch: int, xs: list[float], group=None, t0_s: float = 0.02,
                          output_len: int = 12, simulate: bool = False) -> list[dict]:
    """For each x = c*B/t0: K = p batches of ``batch`` requests vs one batch of p*batch, with the
    same p*batch requests at once and the same KV blocks. Rows: x, both throughputs, TPOT p50,
    measured gain and the theory (1 + p x)/(1 + x)."""
    requests = make_workload(p * batch, output_len=output_len, prompt_len=2, seed=0)
    rows = []
    for x in xs:
        cost = ServingCost(t0_s=t0_s, c_s=x * t0_s / batch)
        one = run(requests, BatchingConfig("continuous", p * batch, 1), p, cost, group, simulate)
        many = run(requests, BatchingConfig("continuous", batch, p), p, cost, group, simulate)
        rows.append({"x": x, "one_batch": one, "inflight": many, "theory_gain": inflight_gain(p, x),
                     "gain": many["throughput_tok_s"] / one["throughput_tok_s"]})
    return rows


def chunked_prefill(p: int, budgets: list[int | None], group=None, n: int = 24, prompt_len: int = 48,
                    cost: ServingCost | None = None, simulate: bool = False) -> dict[str, dict]:
    """Long prompts arriving among decodes (Poisson), each token budget (None: whole prompts):
    TPOT p99 (decode stalls) and stage-0 step spread ``step_cv`` (the in-flight batches' imbalance)."""
    cost = cost or ServingCost(t0_s=0.02, c_s=0.001)
    requests = make_workload(n, rate=20.0, output_len=12, output_dist="exponential", prompt_len=prompt_len,
                             prompt_dist="uniform", max_len=128, seed=0)
    out = {}
    for budget in budgets:
        config = BatchingConfig("continuous", 4, p, token_budget=budget)
        out["no chunking" if budget is None else f"budget {budget}"] = run(requests, config, p, cost,
                                                                           group, simulate)
    return out


def kv_budget(p: int, blocks: list[int | None], group=None, n: int = 24, block_size: int = 4,
              cost: ServingCost | None = None, simulate: bool = False) -> dict[str, dict]:
    """The same workload under shrinking KV memory (blocks per stage; None: unlimited)."""
    cost = cost or ServingCost(t0_s=0.02, c_s=0.001)
    requests = make_workload(n, output_len=10, output_dist="exponential", prompt_len=8,
                             prompt_dist="uniform", max_len=32, seed=0)
    out = {}
    for b in blocks:
        config = BatchingConfig("continuous", 4, p, kv_blocks=b, block_size=block_size)
        out["unlimited" if b is None else f"{b} blocks"] = run(requests, config, p, cost, group, simulate)
    return out


# Short steps (4 ms + 0.2 ms per token: crossover 20 tokens) so that a measured sweep of several
# workloads takes seconds, not minutes. Long next to a CPU's ~1 ms messages, but the tiny GPT's own
# compute (which the timed workload still runs, to check the tokens) takes 1.5-4 ms a step on a
# busy 2-core machine, so some steps overrun their price: each run measures by how much
# (``late_s``) and the simulator is given that too.
QUICK = ServingCost(t0_s=0.004, c_s=0.0002)


def length_variance(sigmas: list[float], p: int, group=None, n: int = 24, max_batch: int = 4,
                    output_len: int = 8, cost: ServingCost | None = None, repeats: int = 3,
                    simulate: bool = False) -> list[dict]:
    """Continuous / static throughput (K = 1, all requests at t=0) as lognormal output lengths
    spread at a fixed mean: measured on ``group`` (timed) with ``gain`` and the calibrated
    simulator's ``simulated_gain`` per sigma, or simulated (``simulated_gain`` None).

    Measured, each policy runs ``repeats`` times (alternating) and the fastest run counts: other
    processes on the machine can only slow a run down, so the fastest is the least disturbed
    (what ``timeit`` recommends too)."""
    cost = cost or QUICK
    check_int("repeats", repeats, 1, 10)
    rows = []
    for sigma in sigmas:
        requests = make_workload(n, output_len=output_len, output_dist="lognormal", prompt_len=4,
                                 max_len=64, sigma=sigma, seed=0)
        tries = [{policy: run(requests, BatchingConfig(policy, max_batch, 1), p, cost, group, simulate)
                  for policy in ("static", "continuous")} for _ in range(1 if simulate else repeats)]
        runs = {policy: max((t[policy] for t in tries), key=lambda d: d["throughput_tok_s"])
                for policy in ("static", "continuous")}
        sims = [runs[k].get("simulated_throughput_tok_s") for k in ("continuous", "static")]
        lengths = describe(requests)
        rows.append({"sigma": sigma, "cv": lengths["output_len_cv"],
                     "output_len_max": lengths["output_len_max"], **runs,
                     "tries_tok_s": {k: [t[k]["throughput_tok_s"] for t in tries] for k in runs},
                     "gain": runs["continuous"]["throughput_tok_s"] / runs["static"]["throughput_tok_s"],
                     "simulated_gain": None if None in sims else sims[0] / sims[1]})
    return rows


def rate_sweep(configs: dict[str, BatchingConfig], rates: list[float], p: int, slo_ttft_s: float,
               slo_tpot_s: float, group=None, n: int = 32, cost: ServingCost | None = None,
               simulate: bool = False, **workload) -> dict:
    """Goodput vs Poisson arrival rate under (TTFT, TPOT) targets, per labelled configuration:
    {label: [point, ...]}, measured on ``group`` (timed; each point also carries the calibrated
    simulator's ``simulated_goodput_req_s``) or simulated. The same requests at every rate, only
    their arrival times change (``make_workload`` draws them from separate streams)."""
    cost = cost or QUICK
    shape = {"output_len": 8, "output_dist": "lognormal", "prompt_len": 8, "prompt_dist": "uniform",
             "max_len": 64, **workload}
    keys = ("throughput_tok_s", "ttft_p99_s", "tpot_p99_s", "goodput_req_s", "slo_attainment",
            "simulated_goodput_req_s", "tokens_match_reference")
    out = {}
    for label, config in configs.items():
        out[label] = []
        for rate in rates:
            d = run(make_workload(n, rate=rate, seed=0, **shape), config, p, cost, group, simulate,
                    slo=(slo_ttft_s, slo_tpot_s))
            out[label].append({"rate": rate, **{k: d.get(k) for k in keys}})
    return out


def without_result(d: dict) -> dict:
    """A report dict without the attached result object (for printing / JSON)."""
    return {k: v for k, v in d.items() if k != "_result"}

