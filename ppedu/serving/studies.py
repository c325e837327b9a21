"""Chapter 5's experiments, each a function the notebook calls in one line (measured or simulated).

Read top-down:
  run                     one run: measured (timed/model, on ranks) or simulated, as a report dict
  inflight_vs_one_batch   K batches of B in flight vs one batch of K*B, same concurrency and KV
  chunked_prefill         long prompts with and without a token budget: TPOT p99, step imbalance
  kv_budget               shrinking KV blocks: peak blocks, preemptions, waste vs reserving max length
  length_variance         continuous over static as the output lengths spread (lognormal sigma)
  rate_sweep              goodput vs arrival rate under SLOs, per labelled configuration
"""

from __future__ import annotations

from ppedu.serving.calibrate import predicted
from ppedu.serving.cost import ServingCost, inflight_gain
from ppedu.serving.scheduler import BatchingConfig
from ppedu.serving.simulator import simulate_serving
from ppedu.serving.workload import Request, describe, make_workload


def run(requests: list[Request], config: BatchingConfig, p: int, cost: ServingCost,
        group=None, simulate: bool = False) -> dict:
    """Serve on ``group`` with the timed workload (adds ``simulated_*`` from the calibrated
    simulator), or simulate (``simulate=True``). The result object rides along as ``_result``."""
    if simulate:
        result = simulate_serving(requests, config, p, cost)
        return {**result.to_dict(), "_result": result}
    from ppedu.serving.server import serve
    result = serve(requests, config, p, workload="timed", cost=cost, group=group)
    sim = predicted(requests, config, p, cost, result)
    return {**result.to_dict(), "_result": result, "simulated_throughput_tok_s": sim["throughput_tok_s"],
            "simulated_bubble_fraction": sim["bubble_fraction"],
            "simulated_decode_bubble_fraction": sim.get("decode_bubble_fraction")}


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


def length_variance(sigmas: list[float], p: int = 2, n: int = 400, max_batch: int = 16,
                    cost: ServingCost | None = None) -> list[dict]:
    """Simulated: continuous / static throughput as lognormal output lengths spread (fixed mean)."""
    rows = []
    for sigma in sigmas:
        requests = make_workload(n, output_len=24, output_dist="lognormal", prompt_len=8, max_len=256,
                                 sigma=sigma, seed=0)
        tput = {policy: simulate_serving(requests, BatchingConfig(policy, max_batch, p), p,
                                         cost).to_dict()["throughput_tok_s"]
                for policy in ("static", "continuous")}
        rows.append({"sigma": sigma, "cv": describe(requests)["output_len_cv"], **tput,
                     "gain": tput["continuous"] / tput["static"]})
    return rows


def rate_sweep(configs: dict[str, BatchingConfig], rates: list[float], p: int, slo_ttft_s: float,
               slo_tpot_s: float, n: int = 400, cost: ServingCost | None = None, **workload) -> dict:
    """Simulated goodput vs rate, per labelled configuration: {label: [point, ...]}."""
    shape = {"output_len": 16, "output_dist": "lognormal", "prompt_len": 32, "prompt_dist": "uniform",
             "max_len": 256, **workload}
    out = {}
    for label, config in configs.items():
        points = []
        for rate in rates:
            result = simulate_serving(make_workload(n, rate=rate, seed=0, **shape), config, p, cost)
            d = result.to_dict()
            points.append({"rate": rate, "throughput_tok_s": d["throughput_tok_s"],
                           "ttft_p99_s": d["ttft_p99_s"], "tpot_p99_s": d["tpot_p99_s"],
                           **result.goodput(slo_ttft_s, slo_tpot_s)})
        out[label] = points
    return out


def without_result(d: dict) -> dict:
    """A report dict without the attached result object (for printing / JSON)."""
    return {k: v for k, v in d.items() if k != "_result"}

