"""The PP inference server on real ranks: batching, chunked prefill and preemption never change
tokens; K in flight fills the pipe; continuous batching beats static on skewed outputs; the
simulator predicts the server.

Timing claims use the ``timed`` workload (every stage step lasts a fixed time, like a GPU kernel),
so they hold on a loaded CPU; the simulator is given the per-hop latency measured in the run."""

from __future__ import annotations

import dataclasses
import re

import pytest

from ppedu.serving.scheduler import MAX_RANKS, MAX_SIMULATED_STAGES, POLICIES, BatchingConfig
from ppedu.errors import UsageError
from ppedu.serving.server import serve
from ppedu.serving.metrics import theory_decode_bubble
from ppedu.serving.calibrate import predicted
from ppedu.serving.cost import ServingCost
from ppedu.serving.simulator import simulate_serving
from ppedu.serving.workload import make_workload

pytestmark = pytest.mark.timeout(60)     # every recv has a timeout; this catches anything else

# Poisson arrivals, uneven lengths: requests join and leave mid-run, dynamic hits its deadline.
MIXED = make_workload(6, rate=200.0, output_len=5, output_dist="uniform", prompt_len=4,
                      prompt_dist="uniform", seed=3)


@pytest.mark.ranks
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("inflight", [1, 2])
def test_tokens_match_reference_p2(cluster2, policy, inflight):
    config = BatchingConfig(policy, max_batch=3, inflight=inflight, max_queue_delay_s=0.005)
    result = serve(MIXED, config, p=2, group=cluster2)
    assert result.tokens_match_reference is True
    assert all(len(result.tokens[r.rid]) == r.output_len for r in MIXED)
    assert result.timeline.world_size == 2 and len(result.occupancy) > 0


@pytest.mark.ranks
@pytest.mark.parametrize("budget,kv_blocks", [(3, None), (None, 4), (3, 4)])
def test_tokens_match_under_chunking_and_preemption(cluster2, budget, kv_blocks):
    """Prompts split into chunks of a 3-token budget, and/or 4 KV blocks of 4 tokens for 6
    requests of up to 16 tokens (preemption by recomputation): the tokens do not change, every
    stage counted the same blocks, and none leaked."""
    reqs = make_workload(6, output_len=6, output_dist="uniform", prompt_len=6, prompt_dist="uniform",
                         seed=5)
    config = BatchingConfig("continuous", 3, 2, token_budget=budget, kv_blocks=kv_blocks, block_size=4)
    result = serve(reqs, config, p=2, group=cluster2)
    d = result.to_dict()
    assert result.tokens_match_reference is True
    assert d["kv_leaked_blocks"] == 0 and d["kv_stage_peak_blocks"] == [d["kv_peak_blocks"]] * 2
    if budget:
        assert d["max_iteration_tokens"] <= 3 < max(r.prompt_len for r in reqs)
    if kv_blocks:
        assert d["preemptions"] > 0 and d["kv_peak_blocks"] <= kv_blocks


@pytest.mark.ranks
def test_tokens_match_reference_p4(cluster4):
    config = BatchingConfig("continuous", max_batch=2, inflight=4)
    result = serve(MIXED, config, p=4, group=cluster4)
    assert result.tokens_match_reference is True


@pytest.mark.ranks
def test_mismatch_is_detected(cluster2, monkeypatch):
    """The check itself can fail: a wrong reference must make it say False."""
    import ppedu.serving.server as serving
    monkeypatch.setattr(serving, "reference_tokens", lambda config, prompt, n: [0] * n)
    result = serve(MIXED[:2], BatchingConfig("continuous", 2), p=2, group=cluster2)
    assert result.tokens_match_reference is False


def _timed(group, requests, config, p, cost):
    """A measured timed run and the simulator's prediction for it (given its overheads)."""
    measured = serve(requests, config, p=p, workload="timed", cost=cost, group=group)
    assert measured.tokens_match_reference is True
    return measured.to_dict(), predicted(requests, config, p, cost, measured)


@pytest.mark.ranks
def test_decode_bubble_vs_inflight(cluster2):
    """K=1: one stage busy at a time, bubble (p-1)/p; K=p: both stages busy, and what is left is
    the messages' time, which the simulator (given the measured hops) accounts for."""
    cost = ServingCost(t0_s=0.04, c_s=0.001)
    requests = make_workload(4, output_len=8, prompt_len=4, seed=1)
    bubbles = {}
    for k in (1, 2):
        m, s = _timed(cluster2, requests, BatchingConfig("continuous", 2, k), 2, cost)
        bubbles[k] = m["decode_bubble_fraction"]
        assert bubbles[k] == pytest.approx(s.decode_bubble_fraction, abs=0.05), (k, m, s)
    assert bubbles[1] == pytest.approx(theory_decode_bubble(2, 1), abs=0.1)
    assert bubbles[2] < bubbles[1] - 0.3, bubbles


# Long enough to be meaningful (70-140 iterations of 40-60 ms), short enough to be cheap.
FIDELITY = [BatchingConfig("static", 4, 1), BatchingConfig("dynamic", 4, 2, max_queue_delay_s=0.05),
            BatchingConfig("continuous", 4, 2),
            BatchingConfig("continuous", 4, 2, token_budget=8),
            BatchingConfig("continuous", 4, 2, kv_blocks=12, block_size=4)]


@pytest.mark.ranks
@pytest.mark.parametrize("config", FIDELITY, ids=["static-K1", "dynamic-K2", "continuous-K2", "budget8", "kv12"])
def test_simulator_predicts_the_timed_server(cluster2, config):
    """Given the overheads the run measured (hop, return, driver, late wake-ups; drawn from their
    measured samples), the simulator's throughput is within 5% and its bubble within 0.03 of the
    measured ones (issue 14's bar), for each policy, K, token budget and KV budget."""
    cost = ServingCost(t0_s=0.04, c_s=0.002)          # steps long next to a loaded CPU's hiccups
    requests = make_workload(32, output_len=8, output_dist="uniform", prompt_len=8,
                             prompt_dist="uniform", max_len=24, seed=0)
    m, s = _timed(cluster2, requests, config, 2, cost)
    assert s.throughput_tok_s == pytest.approx(m["throughput_tok_s"], rel=0.05), (m, s)
    assert s.bubble_fraction == pytest.approx(m["bubble_fraction"], abs=0.03), (m, s)
    if config.kv_blocks:
        assert m["preemptions"] > 0
    assert m["fit_t0_s"] == pytest.approx(cost.t0_s, rel=0.1)            # the run recovers its price
    assert m["fit_c_s"] == pytest.approx(cost.c_s, rel=0.25)


@pytest.mark.ranks
def test_continuous_beats_static_on_skewed_lengths(cluster2):
    """Static batches wait for their longest request; continuous refills the seats at once."""
    requests = make_workload(64, output_len=6, output_dist="exponential", prompt_len=4, seed=0)
    cost = ServingCost(t0_s=0.008, c_s=0.0004)
    out = {}
    for policy in ("static", "continuous"):
        out[policy], _ = _timed(cluster2, requests, BatchingConfig(policy, 8, 1), 2, cost)
    ratio = out["continuous"]["throughput_tok_s"] / out["static"]["throughput_tok_s"]
    assert ratio >= 1.5, out
    assert out["continuous"]["mean_occupancy"] > out["static"]["mean_occupancy"]


@pytest.mark.parametrize("kwargs,message", [
    ({"policy": "orca"}, "policy must be one of static, dynamic, continuous"),
    ({"max_batch": 0}, "max_batch must be an integer in 1..4096 (got 0)"),
    ({"inflight": 0}, f"inflight must be an integer in 1..{MAX_SIMULATED_STAGES}"),
    ({"max_queue_delay_s": -1}, "max_queue_delay_s must be a number in 0.0..3600.0"),
])
def test_bad_batching_config(kwargs, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        BatchingConfig(**kwargs)


def test_bad_serve_arguments_fail_before_starting_ranks():
    requests = make_workload(2, output_len=4)
    with pytest.raises(UsageError, match=r"inflight must be an integer in 1\.\.2 \(got 3\)"):
        serve(requests, BatchingConfig("continuous", 2, inflight=3), p=2)
    with pytest.raises(UsageError, match=r"workload must be one of timed, model"):
        serve(requests, BatchingConfig(), p=2, workload="gpu")
    with pytest.raises(UsageError, match=r"inflight must be an integer in 1\.\.4 \(got 5\)"):
        simulate_serving(requests, BatchingConfig(inflight=5), p=4)


def test_real_and_simulated_pipelines_have_their_own_depth_limit():
    """Real ranks stop at MAX_RANKS, the simulator goes on to MAX_SIMULATED_STAGES: one range per
    kind of run, checked by check_pipeline at each entry point before anything starts."""
    assert MAX_RANKS < MAX_SIMULATED_STAGES
    requests = make_workload(2, output_len=4)
    deep = MAX_RANKS + 1
    with pytest.raises(UsageError, match=rf"p must be an integer in 1\.\.{MAX_RANKS} \(got {deep}\)"):
        serve(requests, BatchingConfig(), p=deep)
    assert simulate_serving(requests, BatchingConfig(inflight=deep), p=deep).p == deep
    with pytest.raises(UsageError, match=rf"p must be an integer in 1\.\.{MAX_SIMULATED_STAGES}"):
        simulate_serving(requests, BatchingConfig(), p=MAX_SIMULATED_STAGES + 1)


@pytest.mark.ranks
def test_idle_gap_longer_than_the_recv_timeout():
    """Nobody arrives for 2.5 s while every receive times out after 1 s: heartbeats keep the
    idle stages alive, and the late request is still served correctly."""
    from ppedu.runtime.cluster import Cluster
    requests = [dataclasses.replace(r, arrival_s=2.5 * r.rid) for r in make_workload(2, output_len=3)]
    with Cluster(2, timeout_s=1.0) as group:
        result = serve(requests, BatchingConfig("continuous", 2), p=2, group=group)
    assert result.tokens_match_reference is True
    assert result.states[1].first_token_s >= 2.5


def test_reference_tokens_extend_and_cut_the_longest_decoding():
    """The reference keeps the longest greedy decoding per prompt: asking for fewer tokens cuts
    it, asking for more decodes on; both must equal a fresh greedy_generate."""
    from ppedu.model.gpt import GPT, GPTConfig
    from ppedu.model.kvcache import greedy_generate
    from ppedu.serving.server import reference_tokens
    config = GPTConfig(n_layer=2, block_size=32)
    model = GPT(config).eval()
    prompt = [5, 9, 2]
    for n in (4, 2, 11, 7):
        assert reference_tokens(config, prompt, n) == greedy_generate(model, prompt, n), n
