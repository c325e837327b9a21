"""Scheduler policies, workloads and the serving simulator, without ranks (fast)."""

from __future__ import annotations

import pytest

from ppedu.serving.scheduler import BatchingConfig, Scheduler
from ppedu.errors import UsageError
from ppedu.serving.metrics import percentile, theory_decode_bubble
from ppedu.serving.simulator import ServingCost, simulate_serving
from ppedu.serving.workload import Request, describe, make_workload


def _reqs(outs, arrivals=None, prompt=2):
    arrivals = arrivals or [0.0] * len(outs)
    return [Request(i, t, tuple(range(prompt)), n) for i, (t, n) in enumerate(zip(arrivals, outs))]


def _run_one(sched, slot, now, token=1):
    it = sched.schedule(slot, now)
    if it is not None:
        sched.complete(it, [token] * len(it.rids), now)
    return it


def test_static_waits_for_a_full_batch_and_runs_to_completion():
    sched = Scheduler(_reqs([1, 3, 1], arrivals=[0.0, 0.0, 0.5]), BatchingConfig("static", 2))
    it = _run_one(sched, 0, 0.0)
    assert it.rids == [0, 1] and it.kind == "prefill"
    it = _run_one(sched, 0, 0.6)                # request 2 arrived, but the batch is not done
    assert it.rids == [1] and it.kind == "decode"
    assert _run_one(sched, 0, 0.7).rids == [1]
    assert _run_one(sched, 0, 0.8).rids == [2]  # stream over: a partial batch may start
    assert sched.finished()


def test_static_holds_a_partial_batch_until_it_fills():
    sched = Scheduler(_reqs([1, 1], arrivals=[0.0, 1.0]), BatchingConfig("static", 2))
    assert sched.schedule(0, 0.5) is None
    assert sched.next_event_s(0.5) == 1.0


def test_dynamic_starts_a_partial_batch_after_the_queue_delay():
    sched = Scheduler(_reqs([1, 1], arrivals=[0.0, 1.0]),
                      BatchingConfig("dynamic", 2, max_queue_delay_s=0.1))
    assert sched.schedule(0, 0.05) is None
    assert sched.next_event_s(0.05) == pytest.approx(0.1)
    assert _run_one(sched, 0, 0.1).rids == [0]


def test_continuous_refills_seats_every_iteration():
    sched = Scheduler(_reqs([1, 3, 2]), BatchingConfig("continuous", 2))
    assert _run_one(sched, 0, 0.0).rids == [0, 1]     # request 0 finishes after its prefill
    it = _run_one(sched, 0, 0.1)
    assert it.rids == [1, 2] and it.positions == [2, 0] and it.released == [0]


def test_token_budget_and_inflight_slots_hold_disjoint_requests():
    sched = Scheduler(_reqs([2, 2, 2], prompt=4), BatchingConfig("continuous", 4, inflight=2,
                                                                 token_budget=8))
    a = sched.schedule(0, 0.0)
    b = sched.schedule(1, 0.0)
    assert a.rids == [0, 1] and b.rids == [2]        # 4 + 4 prompt tokens fill the budget
    with pytest.raises(UsageError, match="slot 0 already has an iteration"):
        sched.schedule(0, 0.0)
    with pytest.raises(UsageError, match="one entry per request"):
        sched.complete(a, [1], 0.0)


def test_workload_is_seeded_and_long_tailed():
    a = make_workload(200, rate=10.0, output_len=8, output_dist="longtail", seed=4)
    assert a == make_workload(200, rate=10.0, output_len=8, output_dist="longtail", seed=4)
    assert a != make_workload(200, rate=10.0, output_len=8, output_dist="longtail", seed=5)
    outs = [r.output_len for r in a]
    d = describe(a)
    assert d["output_len_p50"] < d["output_len_mean"] < d["output_len_max"] / 3   # skewed
    assert all(1 <= n and r.prompt_len + n <= 64 for r, n in zip(a, outs))
    gaps = [y.arrival_s - x.arrival_s for x, y in zip(a, a[1:])]
    assert sum(gaps) / len(gaps) == pytest.approx(0.1, rel=0.25)               # Poisson, rate 10
    assert {r.output_len for r in make_workload(5, output_len=7)} == {7}


@pytest.mark.parametrize("kwargs,message", [
    ({"n_requests": 0}, "n_requests must be an integer in >= 1 (got 0)"),
    ({"n_requests": 2, "output_dist": "zipf"}, "output_dist must be one of fixed, uniform, longtail (got 'zipf')"),
    ({"n_requests": 2, "rate": -1}, "rate must be a number in >= 0.0 (got -1.0)"),
    ({"n_requests": 2, "prompt_len": 64}, "prompt_len must be an integer in 1..63 (got 64)"),
])
def test_bad_workload(kwargs, message):
    with pytest.raises(UsageError) as info:
        make_workload(**kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize("p", [2, 4, 8])
def test_simulated_decode_bubble_equals_theory_without_hops(p):
    """Pure decode steps (no prefill cost, no hop): the bubble is (p-K)/p in steady state."""
    cost = ServingCost(t_decode_s=1.0, t_prefill_token_s=0.0, t_hop_s=0.0)
    requests = make_workload(4 * p, output_len=40, prompt_len=2, seed=0)
    for k in (1, p // 2, p):
        result = simulate_serving(requests, BatchingConfig("continuous", 4, k), p, cost)
        assert result.decode_bubble_fraction() == pytest.approx(theory_decode_bubble(p, k), abs=0.03)


def test_simulator_scales_to_thousands_of_requests():
    requests = make_workload(2000, rate=400.0, output_len=32, output_dist="longtail", seed=1)
    d = simulate_serving(requests, BatchingConfig("continuous", 32, 8), 8).to_dict()
    assert d["requests"] == 2000 and d["throughput_tok_s"] > 0 and d["ttft_p99_s"] >= d["ttft_p50_s"]


def test_percentile_interpolates_like_numpy():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0 and percentile([], 50) is None
