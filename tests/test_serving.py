"""The PP inference server on real ranks: batching never changes tokens; K in flight fills the
pipe; continuous batching beats static on long-tailed outputs; the simulator predicts the server.

Timing claims use the ``timed`` workload (every stage step lasts a fixed time, like a GPU kernel),
so they hold on a loaded CPU; the simulator is given the per-hop latency measured in the run."""

from __future__ import annotations

import dataclasses
import re

import pytest

from ppedu.serving.scheduler import POLICIES, BatchingConfig
from ppedu.errors import UsageError
from ppedu.serving.server import serve
from ppedu.serving.metrics import theory_decode_bubble
from ppedu.serving.simulator import ServingCost, simulate_serving
from ppedu.serving.workload import make_workload

pytestmark = pytest.mark.timeout(60)     # every recv has a timeout; this catches anything else

# Poisson arrivals, uneven lengths: requests join and leave mid-run, dynamic hits its deadline.
MIXED = make_workload(6, rate=200.0, output_len=5, output_dist="uniform", prompt_len=4,
                      prompt_dist="uniform", seed=3)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("inflight", [1, 2])
def test_tokens_match_reference_p2(cluster2, policy, inflight):
    config = BatchingConfig(policy, max_batch=3, inflight=inflight, max_queue_delay_s=0.005)
    result = serve(MIXED, config, p=2, group=cluster2)
    assert result.tokens_match_reference is True
    assert all(len(result.tokens[r.rid]) == r.output_len for r in MIXED)
    assert result.timeline.world_size == 2 and len(result.occupancy) > 0


def test_tokens_match_reference_p4(cluster4):
    config = BatchingConfig("continuous", max_batch=2, inflight=4)
    result = serve(MIXED, config, p=4, group=cluster4)
    assert result.tokens_match_reference is True


def test_mismatch_is_detected(cluster2, monkeypatch):
    """The check itself can fail: a wrong reference must make it say False."""
    import ppedu.serving.server as serving
    monkeypatch.setattr(serving, "reference_tokens", lambda config, prompt, n: [0] * n)
    result = serve(MIXED[:2], BatchingConfig("continuous", 2), p=2, group=cluster2)
    assert result.tokens_match_reference is False


def _timed(group, requests, config, p, cost):
    measured = serve(requests, config, p=p, workload="timed", cost=cost, group=group)
    assert measured.tokens_match_reference is True
    hop = measured.to_dict()["hop_s"]
    simulated = simulate_serving(requests, config, p, dataclasses.replace(cost, t_hop_s=hop))
    return measured.to_dict(), simulated.to_dict()


def test_decode_bubble_vs_inflight_and_simulator(cluster2):
    """K=1: one stage busy at a time, bubble (p-1)/p; K=p: both stages busy, bubble near 0.
    On the same runs the simulator's throughput and bubble are within 10% of the measured ones."""
    cost = ServingCost(t_decode_s=0.05, t_prefill_token_s=0.001)
    requests = make_workload(4, output_len=8, prompt_len=4, seed=1)
    for k in (1, 2):
        m, s = _timed(cluster2, requests, BatchingConfig("continuous", 2, k), 2, cost)
        want = theory_decode_bubble(2, k)
        assert m["decode_bubble_fraction"] == pytest.approx(want, abs=0.1), (k, m)
        assert s["throughput_tok_s"] == pytest.approx(m["throughput_tok_s"], rel=0.1), (k, m, s)
        assert s["bubble_fraction"] == pytest.approx(m["bubble_fraction"], rel=0.1, abs=0.02), (k, m, s)
    assert m["overran_steps"] == 0


def test_continuous_beats_static_on_long_tail(cluster2):
    """Static batches wait for their longest request; continuous refills the seats at once."""
    requests = make_workload(64, output_len=6, output_dist="longtail", prompt_len=4, seed=0)
    cost = ServingCost(t_decode_s=0.008, t_prefill_token_s=0.0004)
    out = {}
    for policy in ("static", "continuous"):
        m, s = _timed(cluster2, requests, BatchingConfig(policy, 8, 1), 2, cost)
        out[policy] = m
        assert s["throughput_tok_s"] == pytest.approx(m["throughput_tok_s"], rel=0.1), (policy, m, s)
    ratio = out["continuous"]["throughput_tok_s"] / out["static"]["throughput_tok_s"]
    assert ratio >= 1.5, out
    assert out["continuous"]["mean_occupancy"] > out["static"]["mean_occupancy"]


@pytest.mark.parametrize("kwargs,message", [
    ({"policy": "orca"}, "policy must be one of static, dynamic, continuous"),
    ({"max_batch": 0}, "max_batch must be an integer in 1..4096 (got 0)"),
    ({"inflight": 0}, "inflight must be an integer in 1..64"),
    ({"max_queue_delay_s": -1}, "max_queue_delay_s must be a number in 0.0..3600.0"),
])
def test_bad_batching_config(kwargs, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        BatchingConfig(**kwargs)


def test_bad_serve_arguments_fail_before_starting_ranks():
    requests = make_workload(2, output_len=4)
    with pytest.raises(UsageError, match=r"inflight must be an integer in 1\.\.2 \(got 3\)"):
        serve(requests, BatchingConfig("continuous", 2, inflight=3), p=2)
    with pytest.raises(UsageError, match=r"workload must be one of model, timed"):
        serve(requests, BatchingConfig(), p=2, workload="gpu")
    with pytest.raises(UsageError, match=r"inflight must be an integer in 1\.\.4 \(got 5\)"):
        simulate_serving(requests, BatchingConfig(inflight=5), p=4)


def test_idle_gap_longer_than_the_recv_timeout():
    """Nobody arrives for 2.5 s while every receive times out after 1 s: heartbeats keep the
    idle stages alive, and the late request is still served correctly."""
    from ppedu.runtime.cluster import Cluster
    requests = [dataclasses.replace(r, arrival_s=2.5 * r.rid) for r in make_workload(2, output_len=3)]
    with Cluster(2, timeout_s=1.0) as group:
        result = serve(requests, BatchingConfig("continuous", 2), p=2, group=group)
    assert result.tokens_match_reference is True
    assert result.states[1].first_token_s >= 2.5
