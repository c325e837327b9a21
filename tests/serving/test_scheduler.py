"""Scheduler policies, workloads and the serving simulator, without ranks (fast)."""

from __future__ import annotations

import pytest

from ppedu.serving.scheduler import BatchingConfig, Scheduler
from ppedu.errors import UsageError
from ppedu.serving.metrics import percentile, theory_decode_bubble
from ppedu.serving.cost import ServingCost, gpu_step_costs, inflight_gain
from ppedu.serving.simulator import simulate_serving
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


def test_workload_is_seeded_and_skewed():
    a = make_workload(200, rate=10.0, output_len=8, output_dist="exponential", seed=4)
    assert a == make_workload(200, rate=10.0, output_len=8, output_dist="exponential", seed=4)
    assert a != make_workload(200, rate=10.0, output_len=8, output_dist="exponential", seed=5)
    outs = [r.output_len for r in a]
    d = describe(a)
    assert d["output_len_p50"] < d["output_len_mean"] < d["output_len_max"] / 3   # skewed
    assert all(1 <= n and r.prompt_len + n <= 64 for r, n in zip(a, outs))
    gaps = [y.arrival_s - x.arrival_s for x, y in zip(a, a[1:])]
    assert sum(gaps) / len(gaps) == pytest.approx(0.1, rel=0.25)               # Poisson, rate 10
    assert {r.output_len for r in make_workload(5, output_len=7)} == {7}


@pytest.mark.parametrize("kwargs,message", [
    ({"n_requests": 0}, "n_requests must be an integer in >= 1 (got 0)"),
    ({"n_requests": 2, "output_dist": "zipf"}, "output_dist must be one of fixed, uniform, exponential, lognormal (got 'zipf')"),
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
    cost = ServingCost(t0_s=1.0, c_s=0.0, t_hop_s=0.0, t_return_s=0.0)
    requests = make_workload(4 * p, output_len=40, prompt_len=2, seed=0)
    for k in (1, p // 2, p):
        result = simulate_serving(requests, BatchingConfig("continuous", 4, k), p, cost)
        assert result.decode_bubble_fraction() == pytest.approx(theory_decode_bubble(p, k), abs=0.03)


def test_simulator_scales_to_thousands_of_requests():
    requests = make_workload(2000, rate=400.0, output_len=32, output_dist="exponential", seed=1)
    d = simulate_serving(requests, BatchingConfig("continuous", 32, 8), 8).to_dict()
    assert d["requests"] == 2000 and d["throughput_tok_s"] > 0 and d["ttft_p99_s"] >= d["ttft_p50_s"]


def test_percentile_interpolates_like_numpy():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0 and percentile([], 50) is None


# ---------------------------------------------------------------- chunked prefill, paged KV
def _drain(sched, now=0.0):
    """Run every slot until all requests finish; return the iterations issued."""
    its = []
    while not sched.finished():
        it = sched.issue(now)
        assert it is not None, "scheduler stalled"
        sched.complete(it, [7] * len(it.rids), now)
        its.append(it)
        now += 1.0
    return its


def test_token_budget_chunks_prompts_and_decodes_go_first():
    """Sarathi-Serve: a 10-token prompt under a budget of 4 rides in chunks beside the decodes."""
    reqs = [Request(0, 0.0, (1, 2), 4), Request(1, 0.0, tuple(range(10)), 2)]
    sched = Scheduler(reqs, BatchingConfig("continuous", 2, token_budget=4))
    first = sched.schedule(0, 0.0)
    assert (first.rids, first.lengths) == ([0, 1], [2, 2])            # request 0's prompt, a chunk of 1
    sched.complete(first, [5, 5], 0.0)
    assert sched.states[1].generated == []                            # a chunk samples nothing
    second = sched.schedule(0, 1.0)
    assert (second.rids, second.positions, second.lengths) == ([0, 1], [2, 2], [1, 3])   # decode first
    assert second.input_ids[0] == 5 and second.prefill_tokens == 3 and second.tokens == 4
    sched.complete(second, [6, 6], 1.0)
    its = [first, second] + _drain(sched, 2.0)
    assert all(it.tokens <= 4 for it in its)
    assert [len(s.generated) for s in sched.states.values()] == [4, 2]


def test_blocks_are_allocated_on_demand_and_all_freed():
    reqs = make_workload(40, output_len=10, output_dist="lognormal", prompt_len=6, prompt_dist="uniform",
                         seed=2)
    sched = Scheduler(reqs, BatchingConfig("continuous", 6, inflight=2, token_budget=8, block_size=4))
    _drain(sched)
    assert sched.blocks.used == 0 and sched.blocks.tables == {}           # no leak
    assert len(sched.blocks.free_ids) == len(set(sched.blocks.free_ids)) == sched.blocks.n_blocks
    longest = max(-(-(r.prompt_len + r.output_len) // 4) for r in reqs)
    assert longest <= sched.blocks.peak_used < sum(-(-(r.prompt_len + r.output_len) // 4) for r in reqs)


def test_out_of_blocks_preempts_the_newest_and_recomputes_it():
    """Two requests of 2 + 6 tokens in 3 blocks of 2: both fit at first; growing, the newest is
    preempted, readmitted after the other finished, and recomputes prompt + generated tokens."""
    reqs = [Request(0, 0.0, (1, 2), 4), Request(1, 0.0, (3, 4), 4)]
    sched = Scheduler(reqs, BatchingConfig("continuous", 2, kv_blocks=3, block_size=2))
    its = _drain(sched)
    assert sched.preemptions >= 1 and sched.states[1].preemptions >= 1
    redo = next(it for it in its if 1 in it.rids and it.positions[it.rids.index(1)] == 0
                and it is not its[0])
    i = redo.rids.index(1)
    assert redo.lengths[i] == 2 + len(sched.states[1].generated[:redo.lengths[i] - 2])
    assert any(1 in it.released for it in its)                           # stages drop its KV
    assert sched.blocks.peak_used <= 3 and sched.blocks.used == 0
    assert [len(s.generated) for s in sched.states.values()] == [4, 4]


def test_kv_budget_errors_name_the_setting():
    with pytest.raises(UsageError, match=r"kv_blocks must be at least 2, the blocks of the longest"):
        Scheduler([Request(0, 0.0, (1, 2, 3), 4)], BatchingConfig(kv_blocks=1, block_size=4))
    with pytest.raises(UsageError, match=r"token_budget must be an integer in 8\.\."):
        BatchingConfig(max_batch=8, token_budget=4)


def test_paged_waste_is_far_below_reserving_the_maximum_length():
    reqs = make_workload(64, output_len=8, output_dist="exponential", prompt_len=8, seed=0)
    d = simulate_serving(reqs, BatchingConfig("continuous", 8, 2), 2).to_dict()
    assert d["kv_leaked_blocks"] == 0 and d["preemptions"] == 0
    assert d["kv_waste_paged"] < 0.5 < d["kv_waste_reserved"]
    assert d["kv_peak_blocks"] < d["kv_peak_reserved_blocks"]


# ---------------------------------------------------------------- cost model
def test_cost_defaults_are_the_named_gpu():
    t0, c = gpu_step_costs()
    assert ServingCost().t0_s == t0 and ServingCost().c_s == c
    t0, c = gpu_step_costs(p=1, slowdown=1.0)
    assert t0 == pytest.approx(13.48e9 / 2.039e12) and c == pytest.approx(2 * 6.74e9 / 156e12)
    assert ServingCost(t0_s=0.01, c_s=0.001).step_s(5) == pytest.approx(0.015)


@pytest.mark.parametrize("x", [0.0, 0.5, 2.0])
def test_k_batches_vs_one_big_batch_follows_the_cost_model(x):
    """Same concurrency (K*B requests) and the same KV memory: the gain of K = p batches in
    flight over one batch of K*B is (1 + K x)/(1 + x), x = c B / t0 -- nothing for a flat cost."""
    p, B = 4, 4
    cost = ServingCost(t0_s=0.01, c_s=x * 0.01 / B, t_hop_s=0.0, t_return_s=0.0)
    reqs = make_workload(p * B, output_len=60, prompt_len=1, seed=0)
    one = simulate_serving(reqs, BatchingConfig("continuous", p * B, 1), p, cost).to_dict()
    many = simulate_serving(reqs, BatchingConfig("continuous", B, p), p, cost).to_dict()
    gain = many["throughput_tok_s"] / one["throughput_tok_s"]
    assert gain == pytest.approx(inflight_gain(p, x), rel=0.05), (gain, x)
    assert inflight_gain(p, 0.0) == 1.0


def test_lognormal_is_heavier_tailed_than_exponential_at_the_same_mean():
    """Same mean; the lognormal's far tail (p99.5 over the mean) is longer, and sigma sets it."""
    def tail(dist, sigma=1.5):
        outs = sorted(r.output_len for r in make_workload(4000, output_len=20, output_dist=dist,
                                                          prompt_len=1, max_len=4096, sigma=sigma, seed=0))
        return outs[int(0.995 * len(outs))] / (sum(outs) / len(outs))
    assert tail("lognormal") > 1.3 * tail("exponential")
    assert tail("lognormal", 0.5) < tail("lognormal", 1.5)


def test_paged_kv_returns_what_a_contiguous_cache_returns():
    """Tokens written chunk by chunk into scattered blocks come back in order, as LayerKV's do."""
    import torch
    from ppedu.model.kvcache import LayerKV
    from ppedu.serving.paged import BlockPool, PagedKVCache
    pool = BlockPool(n_blocks=6, block_size=4, n_head=2, head_dim=3)
    table = [5, 1]                                     # not contiguous, not in order
    paged, plain = PagedKVCache(pool, table).layer(0), LayerKV()
    torch.manual_seed(0)
    for n in (3, 1, 4, 1):                             # chunks crossing block boundaries
        if -(-(paged.length + n) // 4) > len(table):
            table.append(len(table) + 2)               # the block manager grows the table in place
        k, v = torch.randn(2, n, 3), torch.randn(2, n, 3)
        got, want = paged.append(k, v), plain.append(k, v)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert paged.length == plain.length == 9 and torch.count_nonzero(pool.k[0][0]) == 0   # block 0 unused


def test_the_typed_result_and_its_json_agree():
    """Consumers read ServingResult by attribute; ``to_dict()`` (serve-bench --json) carries the same numbers."""
    reqs = make_workload(16, output_dist="exponential", prompt_len=6, max_len=24, seed=3)
    r = simulate_serving(reqs, BatchingConfig("continuous", 4, 2, kv_blocks=8, block_size=4), 2)
    d = r.to_dict()
    assert (d["ttft_p99_s"], d["tpot_p50_s"], d["e2e_p90_s"]) == (r.ttft.p99, r.tpot.p50, r.e2e.p90)
    assert r.ttft.p50 <= r.ttft.p90 <= r.ttft.p99
    assert d["kv_peak_blocks"] == r.kv.kv_peak_blocks <= 8 and d["preemptions"] == r.kv.preemptions > 0
    assert d["busy_s"] == r.busy_s and d["iterations"] == r.iterations == len(r.occupancy)
    assert r.overheads is None and "hop_s" not in d and d["cost"] == r.cost.to_dict()   # simulated: none measured
    strict = r.goodput(slo_ttft_s=r.ttft.p50, slo_tpot_s=1.0)
    assert strict.slo_met == sum(s.first_token_s - s.request.arrival_s <= r.ttft.p50 for s in r.states)
    assert 0.5 <= strict.slo_attainment < 1.0 and strict.goodput_req_s == strict.slo_met / r.duration_s
