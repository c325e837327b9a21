"""The overheads a real run pays beside its stage steps, measured from its own timeline, so the
simulator (``ppedu.serving.simulator.SimPipe``) can be given them and checked against the run
(``predicted``; a model run's simulation uses the step cost fitted through its own steps,
``simulation_cost``).

    hop_s     stage s-1 finished iteration i -> stage s started it, where stage s was idle when
              the message left (so it started the moment the message was in). Selecting on
              "stage s waited" instead would keep only the slow deliveries: a fast one often
              arrives while stage s is still busy and goes unseen.
    return_s  the last stage finished iteration j -> rank 0 started its next iteration, where
              rank 0 was blocked waiting for j's tokens (return message + bookkeeping + schedule)
    driver_s  rank 0 finished a step -> started the next one straight away (pack, send, schedule)
    late_s    (timed workload) how much longer a step lasted than its price: the OS wakes a
              sleeping rank up a little late, more so on a loaded machine (``ppedu.serving.stage``)

Stages run iterations first-in first-out, so the k-th compute event of every rank is iteration k.
``follows[k]`` (recorded by rank 0) says what rank 0 did right before launching iteration k: the
index of the iteration whose tokens it waited for, ``LAUNCH`` (it had just launched k-1) or
``IDLE`` (it slept until an arrival; such gaps measure nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from statistics import mean

from ppedu.schedules.timeline import Timeline
from ppedu.serving.overheads import OverheadSamples, Overheads, StepFit
from ppedu.serving.simulator import simulate_serving

LAUNCH, IDLE = -1, -2


def trimmed_mean(values: list[float], trim: float = 0.1) -> float | None:
    """Mean without the lowest and highest ``trim`` share (a stray scheduler hiccup of the OS
    should not set the price of every message); None if empty."""
    xs = sorted(values)
    if not xs:
        return None
    k = int(len(xs) * trim)
    xs = xs[k:len(xs) - k] or xs
    return sum(xs) / len(xs)


def measured_overheads(samples: OverheadSamples) -> Overheads:
    """Hop, return, driver and lateness: trimmed means of a run's ``overhead_samples`` (lateness
    may be below zero, the others not), seconds, None when nothing measured them."""
    clip = lambda x: None if x is None else max(0.0, x)      # noqa: E731
    return Overheads(hop_s=clip(trimmed_mean(samples.hop_s)), return_s=clip(trimmed_mean(samples.return_s)),
                     driver_s=clip(trimmed_mean(samples.driver_s)), late_s=trimmed_mean(samples.late_s))


def overhead_samples(timeline: Timeline, follows: list[int], late_s: list[float] = ()) -> OverheadSamples:
    """Every measured hop, return and driver gap (seconds), in run order, and ``late_s`` as given."""
    ranks = [timeline.rank_events(r, compute_only=True) for r in range(timeline.world_size)]
    hops = []
    for prev, cur in zip(ranks, ranks[1:]):
        for k, (a, b) in enumerate(zip(prev, cur)):
            if k == 0 or cur[k - 1].end <= a.end:     # stage s was idle when the message left
                hops.append(b.start - a.end)
    first, last = ranks[0], ranks[-1]
    returns, drivers = [], []
    for k in range(1, min(len(first), len(follows))):
        gap_from_own = first[k].start - first[k - 1].end
        if follows[k] == LAUNCH and k > 1:    # k = 1 pays one-off costs (first message on the link)
            drivers.append(gap_from_own)
        elif follows[k] >= 0 and first[k - 1].end < last[follows[k]].end:
            returns.append(first[k].start - last[follows[k]].end)
    return OverheadSamples(hop_s=hops, return_s=returns, driver_s=drivers, late_s=list(late_s))


def calibrated(cost, measured: Overheads):
    """``cost`` (a ServingCost) with the overheads a real run measured; unmeasured ones: the hop
    for the return trip (the same kind of message), nothing for the driver."""
    hop = measured.hop_s or 0.0
    return replace(cost, t_hop_s=hop, t_return_s=hop if measured.return_s is None else measured.return_s,
                   t_driver_s=measured.driver_s or 0.0, t_late_s=max(0.0, measured.late_s or 0.0))


def simulation_cost(result, cost):
    """The step cost to simulate a measured run with: a timed run's price ``cost``; a model run's
    own least-squares fit through its steps (``fit_step_cost``), None if too few steps to fit.
    For a model run this is in-sample: the fit gets the mean step right by construction, so what
    the comparison then tests is everything else -- how the steps overlap, wait and pay messages."""
    if result.source == "timed":
        return cost
    fit = result.step_fit
    return None if fit is None or fit.t0_s is None or fit.c_s is None else replace(cost, t0_s=fit.t0_s, c_s=fit.c_s)


@dataclass(frozen=True)
class Prediction:
    """What the calibrated simulator predicts for a measured run (means over seeded draws)."""
    throughput_tok_s: float | None
    bubble_fraction: float
    decode_bubble_fraction: float | None    # None: a draw had no decode-only iteration
    goodput_req_s: float | None             # None: no SLO given


def predicted(requests, config, p: int, cost, result, draws: int = 3,
              slo: tuple[float, float] | None = None) -> Prediction:
    """What the simulator predicts for a measured timed run ``result``: its throughput and
    bubble (and, given ``slo`` = (TTFT, TPOT) targets in seconds, its goodput), averaged over
    ``draws`` seeded draws of the run's measured overheads."""
    sims = [simulate_serving(requests, config, p, calibrated(cost, result.overheads), jitter=result.jitter,
                             seed=seed) for seed in range(draws)]
    return Prediction(_mean([s.throughput_tok_s for s in sims]), mean(s.bubble_fraction for s in sims),
                      _mean([s.decode_bubble_fraction() for s in sims]),
                      _mean([s.goodput(*slo).goodput_req_s for s in sims]) if slo else None)


def _mean(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else mean(values)


def fit_step_cost(timeline: Timeline, tokens: list[int]) -> StepFit:
    """Least-squares ``t0 + c * tokens`` through every stage step of a run (the k-th step of each
    rank is iteration k, which carried ``tokens[k]``): what a ``model`` run's steps cost, measured,
    so its simulation needs no assumed cost; on a ``timed`` run it recovers the price (+ lateness)."""
    xs, ys = [], []
    for r in range(timeline.world_size):
        for e, n in zip(timeline.rank_events(r, compute_only=True), tokens):
            xs.append(float(n))
            ys.append(e.end - e.start)
    if len(xs) < 2:
        return StepFit(None, None)
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    c = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx > 0 else 0.0
    c = max(0.0, c)
    return StepFit(max(0.0, my - c * mx), c)
