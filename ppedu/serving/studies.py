"""Chapter 5's experiments, each a function the notebook calls in one line (measured or simulated).

Read top-down:
  Run                     one run as the notebook reads it: its numbers as attributes, a ``key``
                          code looks it up by, a ``label`` in the student's language, the result
  run                     one run: measured (timed/model, on ranks) or simulated
  inflight_vs_one_batch   K batches of B in flight vs one batch of K*B, same concurrency and KV
  chunked_prefill         long prompts with and without a token budget: TPOT p99, step imbalance
  kv_budget               shrinking KV blocks: peak blocks, preemptions, waste vs reserving max length
  length_variance         continuous over static as the output lengths spread (lognormal sigma)
  rate_sweep              goodput vs arrival rate under SLOs, one ``Sweep`` of ``RatePoint``s per
                          configuration
Each is measured on real ranks (timed workload, with the calibrated simulator's prediction beside
every measured number) or, with ``simulate=True``, simulated.

Keys stay English in every language (a Chinese notebook has the English code cells, which write
``chunked["budget 8"]``); labels are what plots and tables show, translated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ppedu.errors import UsageError, check_int
from ppedu.i18n.messages import N_, _
from ppedu.serving.calibrate import Prediction, predicted
from ppedu.serving.cost import ServingCost, inflight_gain
from ppedu.serving.metrics import Goodput, ServingResult
from ppedu.serving.scheduler import BatchingConfig
from ppedu.serving.simulator import simulate_serving
from ppedu.serving.workload import Request, describe, make_workload

POLICY_LABELS = {"static": N_("static"), "dynamic": N_("dynamic"), "continuous": N_("continuous")}
NO_CHUNKING, UNLIMITED = N_("no chunking"), N_("unlimited")


def budget_name(budget: int | None, translate=str) -> str:
    """A token budget's name: ``budget 8`` / ``no chunking`` (``translate=_``: the label)."""
    return translate(NO_CHUNKING) if budget is None else translate(N_("budget {budget}")).format(budget=budget)


def blocks_name(blocks: int | None, translate=str) -> str:
    """A KV budget's name: ``8 blocks`` / ``unlimited`` (``translate=_``: the label)."""
    return translate(UNLIMITED) if blocks is None else translate(N_("{blocks} blocks")).format(blocks=blocks)


def config_name(config: BatchingConfig, translate=str) -> str:
    """A configuration's name: ``continuous, K=2`` (plus its token and KV budgets when set)."""
    parts = [translate(POLICY_LABELS.get(config.policy, config.policy)), f"K={config.inflight}"]
    if config.token_budget is not None:
        parts.append(budget_name(config.token_budget, translate))
    if config.kv_blocks is not None:
        parts.append(blocks_name(config.kv_blocks, translate))
    return ", ".join(parts)


@dataclass(frozen=True)
class Run:
    """One run: the numbers chapter 5 reads (attributes; ``to_dict()`` has them all, as ``ppedu
    serve-bench --json`` writes them), the measured run's ``simulated_*`` prediction (None when
    simulated), the goodput (None without SLO targets) and the whole ``result``."""
    key: str                                    # what code looks the run up by, English: "budget 8"
    label: str                                  # what plots and tables show, translated
    result: ServingResult = field(repr=False, compare=False)
    goodput: Goodput | None = field(repr=False, default=None)
    simulated: Prediction | None = field(repr=False, default=None)
    policy: str = ""
    inflight: int = 1
    source: str = ""
    tokens_match_reference: bool | None = None
    iterations: int = 0
    throughput_tok_s: float | None = None
    ttft_p50_s: float | None = None
    tpot_p50_s: float | None = None
    tpot_p99_s: float | None = None
    e2e_p99_s: float | None = None
    decode_bubble_fraction: float | None = None
    step_cv: float = 0.0
    mean_occupancy: float = 0.0
    hop_s: float | None = None
    kv_peak_blocks: int = 0
    kv_peak_reserved_blocks: int = 0
    kv_waste_paged: float = 0.0
    kv_waste_reserved: float = 0.0
    kv_leaked_blocks: int = 0
    max_iteration_tokens: int = 0
    preemptions: int = 0
    goodput_req_s: float | None = None
    slo_attainment: float | None = None
    simulated_throughput_tok_s: float | None = None
    simulated_decode_bubble_fraction: float | None = None
    simulated_goodput_req_s: float | None = None

    @classmethod
    def of(cls, key: str, label: str, result: ServingResult, goodput: Goodput | None = None,
           simulated: Prediction | None = None) -> "Run":
        report = _report(result, goodput, simulated)
        numbers = {f.name: report[f.name] for f in fields(cls) if f.name not in _PARTS and f.name in report}
        return cls(key, label, result, goodput, simulated, **numbers)

    def to_dict(self) -> dict:
        """Every number of the run, JSON-ready: the result's report, the goodput, ``simulated_*``."""
        return _report(self.result, self.goodput, self.simulated)

    def __getitem__(self, name):
        raise UsageError(_("a run's numbers are attributes: write run.{name}, not run[{quoted}]").format(
            name=name, quoted=repr(name)))


_PARTS = ("key", "label", "result", "goodput", "simulated")


def _report(result: ServingResult, goodput: Goodput | None, simulated: Prediction | None) -> dict:
    report = {**result.to_dict(), **(asdict(goodput) if goodput else {})}
    if simulated is not None:
        report.update({f"simulated_{k}": v for k, v in asdict(simulated).items()})
    return report


def run(requests: list[Request], config: BatchingConfig, p: int, cost: ServingCost,
        group=None, simulate: bool = False, slo: tuple[float, float] | None = None,
        key: str | None = None, label: str | None = None) -> Run:
    """Serve on ``group`` with the timed workload (with the calibrated simulator's prediction), or
    simulate (``simulate=True``). ``slo`` = (TTFT, TPOT) targets in seconds adds the goodput
    (measured and simulated). ``key`` defaults to the policy, ``label`` to its translation."""
    key = key or config.policy
    label = label or (_(POLICY_LABELS[key]) if key in POLICY_LABELS else key)
    if simulate:
        result = simulate_serving(requests, config, p, cost)
        return Run.of(key, label, result, result.goodput(*slo) if slo else None)
    from ppedu.serving.server import serve  # torch: simulated studies run without it
    result = serve(requests, config, p, workload="timed", cost=cost, group=group)
    sim = predicted(requests, config, p, cost, result, slo=slo)
    return Run.of(key, label, result, result.goodput(*slo) if slo else None, sim)


def measured_label(group, p: int) -> str:
    """How the measured points were measured, for a legend: workload, ranks, backend."""
    backend = getattr(group, "backend", None) or "gloo"
    return _("measured (timed workload, {p} ranks, {backend})").format(p=p, backend=backend)


@dataclass(frozen=True)
class InflightRow:
    """K = p batches of B in flight vs one batch of p*B at one x = c*B/t0."""
    x: float
    one_batch: Run
    inflight: Run
    theory_gain: float                # (1 + p x)/(1 + x)
    gain: float                       # measured (or simulated) throughput, inflight / one_batch


def inflight_vs_one_batch(p: int, batch: int, xs: list[float], group=None, t0_s: float = 0.02,
                          output_len: int = 12, simulate: bool = False) -> list[InflightRow]:
    """For each x = c*B/t0: K = p batches of ``batch`` requests vs one batch of p*batch, with the
    same p*batch requests at once and the same KV blocks."""
    requests = make_workload(p * batch, output_len=output_len, prompt_len=2, seed=0)
    rows = []
    for x in xs:
        cost = ServingCost(t0_s=t0_s, c_s=x * t0_s / batch)
        one = run(requests, BatchingConfig("continuous", p * batch, 1), p, cost, group, simulate)
        many = run(requests, BatchingConfig("continuous", batch, p), p, cost, group, simulate)
        rows.append(InflightRow(x, one, many, inflight_gain(p, x), many.throughput_tok_s / one.throughput_tok_s))
    return rows


def chunked_prefill(p: int, budgets: list[int | None], group=None, n: int = 24, prompt_len: int = 48,
                    cost: ServingCost | None = None, simulate: bool = False) -> dict[str, Run]:
    """Long prompts arriving among decodes (Poisson), each token budget (None: whole prompts),
    keyed ``no chunking`` / ``budget 8``: TPOT p99 (decode stalls) and stage-0 step spread
    ``step_cv`` (the in-flight batches' imbalance)."""
    cost = cost or ServingCost(t0_s=0.02, c_s=0.001)
    requests = make_workload(n, rate=20.0, output_len=12, output_dist="exponential", prompt_len=prompt_len,
                             prompt_dist="uniform", max_len=128, seed=0)
    out = {}
    for budget in budgets:
        config = BatchingConfig("continuous", 4, p, token_budget=budget)
        key = budget_name(budget)
        out[key] = run(requests, config, p, cost, group, simulate, key=key, label=budget_name(budget, _))
    return out


def kv_budget(p: int, blocks: list[int | None], group=None, n: int = 24, block_size: int = 4,
              cost: ServingCost | None = None, simulate: bool = False) -> dict[str, Run]:
    """The same workload under shrinking KV memory (blocks per stage; None: unlimited), keyed
    ``unlimited`` / ``8 blocks``."""
    cost = cost or ServingCost(t0_s=0.02, c_s=0.001)
    requests = make_workload(n, output_len=10, output_dist="exponential", prompt_len=8,
                             prompt_dist="uniform", max_len=32, seed=0)
    out = {}
    for b in blocks:
        config = BatchingConfig("continuous", 4, p, kv_blocks=b, block_size=block_size)
        key = blocks_name(b)
        out[key] = run(requests, config, p, cost, group, simulate, key=key, label=blocks_name(b, _))
    return out


# Short steps (4 ms + 0.2 ms per token: crossover 20 tokens) so that a measured sweep of several
# workloads takes seconds, not minutes. Long next to a CPU's ~1 ms messages, but the tiny GPT's own
# compute (which the timed workload still runs, to check the tokens) takes 1.5-4 ms a step on a
# busy 2-core machine, so some steps overrun their price: each run measures by how much
# (``late_s``) and the simulator is given that too.
QUICK = ServingCost(t0_s=0.004, c_s=0.0002)


@dataclass(frozen=True)
class LengthRow:
    """Continuous vs static at one spread of output lengths (``length_variance``)."""
    sigma: float                      # the lognormal's sigma
    cv: float                         # the drawn lengths' coefficient of variation
    output_len_max: int
    static: Run                       # each policy's fastest try
    continuous: Run
    tries_tok_s: dict[str, list[float]]   # every try's throughput, by policy
    gain: float                       # continuous / static throughput
    simulated_gain: float | None      # the same, as the calibrated simulator predicts it (None: simulated)


def length_variance(sigmas: list[float], p: int, group=None, n: int = 24, max_batch: int = 4,
                    output_len: int = 8, cost: ServingCost | None = None, repeats: int = 3,
                    simulate: bool = False) -> list[LengthRow]:
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
        static, continuous = (max((t[policy] for t in tries), key=lambda r: r.throughput_tok_s)
                              for policy in ("static", "continuous"))
        sims = (continuous.simulated_throughput_tok_s, static.simulated_throughput_tok_s)
        lengths = describe(requests)
        rows.append(LengthRow(sigma, lengths["output_len_cv"], lengths["output_len_max"], static, continuous,
                              {k: [t[k].throughput_tok_s for t in tries] for k in ("static", "continuous")},
                              continuous.throughput_tok_s / static.throughput_tok_s,
                              None if None in sims else sims[0] / sims[1]))
    return rows


@dataclass(frozen=True)
class RatePoint:
    """One arrival rate of a ``Sweep``: the numbers the knee is read from, and the run."""
    rate: float                       # requests per second (Poisson)
    goodput_req_s: float | None       # requests per second meeting both targets
    slo_attainment: float             # share of the requests meeting both
    simulated_goodput_req_s: float | None   # the calibrated simulator's (None: simulated)
    throughput_tok_s: float | None
    tokens_match_reference: bool | None
    run: Run = field(repr=False)


@dataclass(frozen=True)
class Sweep:
    """One configuration over the arrival rates (``rate_sweep``), in rate order."""
    key: str                          # what code looks it up by, English: "continuous, K=2"
    label: str                        # what the plot shows, translated
    config: BatchingConfig
    points: list[RatePoint]


def rate_sweep(configs: list[BatchingConfig], rates: list[float], p: int, slo_ttft_s: float,
               slo_tpot_s: float, group=None, n: int = 32, cost: ServingCost | None = None,
               simulate: bool = False, **workload) -> dict[str, Sweep]:
    """Goodput vs Poisson arrival rate under (TTFT, TPOT) targets, one ``Sweep`` per configuration,
    keyed by its name (``continuous, K=2``): measured on ``group`` (timed; each point also carries
    the calibrated simulator's ``simulated_goodput_req_s``) or simulated. The same requests at
    every rate, only their arrival times change (``make_workload`` draws them from separate streams)."""
    cost = cost or QUICK
    shape = {"output_len": 8, "output_dist": "lognormal", "prompt_len": 8, "prompt_dist": "uniform",
             "max_len": 64, **workload}
    out = {}
    for config in configs:
        key, label = config_name(config), config_name(config, _)
        points = []
        for rate in rates:
            r = run(make_workload(n, rate=rate, seed=0, **shape), config, p, cost, group, simulate,
                    slo=(slo_ttft_s, slo_tpot_s), key=key, label=label)
            points.append(RatePoint(rate, r.goodput_req_s, r.slo_attainment, r.simulated_goodput_req_s,
                                    r.throughput_tok_s, r.tokens_match_reference, r))
        out[key] = Sweep(key, label, config, points)
    return out
