"""TP vs PP measured: exact counts, and the numbers move the right way when the link gets slower.

Directions only, no timing thresholds beyond generous ones: 2 shared CPU cores make times noisy.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from ppedu.errors import UsageError
from ppedu.model.gpt import GPT, GPTConfig
from ppedu.tensor_parallel.compare import compare_tp_pp, crossover_latency_ms, predict_comm_time, predict_step_time

CONFIG = GPTConfig(n_layer=4, n_head=4, n_embd=32, block_size=16)
BATCH, SEQ, LATENCY_MS = 4, 16, 5.0


@pytest.fixture(scope="module")
def runs(cluster2):
    """Same model twice: a same-machine link, then 5 ms per message (PP with 2 micro-batches)."""
    fast = compare_tp_pp(2, CONFIG, BATCH, SEQ, microbatches=1, repeats=2, group=cluster2)
    slow = compare_tp_pp(2, CONFIG, BATCH, SEQ, microbatches=2, latency_ms=LATENCY_MS, repeats=2,
                         group=cluster2)
    return fast, slow


@pytest.mark.ranks
def test_counts_are_exact_and_match_the_cost_model(runs):
    fast, slow = runs
    L = CONFIG.n_layer
    assert (fast.tp.collectives, fast.tp.p2p_messages) == (4 * L, 0)
    assert (fast.pp.collectives, fast.pp.p2p_messages) == (0, 2)
    assert slow.pp.p2p_messages == 4                       # m=2: twice the messages ...
    assert slow.pp.bytes == fast.pp.bytes                  # ... each half as big
    for run in runs:
        for k in ("tp", "pp"):
            assert getattr(run, k).messages == getattr(run.predicted, k).messages
            assert getattr(run, k).bytes == getattr(run.predicted, k).bytes


@pytest.mark.ranks
def test_same_model_same_loss_and_less_memory_per_rank(runs):
    fast, _ = runs
    assert fast.tp.loss == pytest.approx(fast.pp.loss, rel=1e-5)
    full = sum(p.numel() * 4 for p in GPT(CONFIG).parameters())
    for k in ("tp", "pp"):
        assert getattr(fast, k).param_bytes_per_rank < full            # each rank holds a part ...
        assert sum(getattr(fast, k).param_bytes) >= full               # ... and together all of it
        assert getattr(fast, k).activation_bytes_per_rank > 0


@pytest.mark.ranks
def test_json_carries_the_typed_result(runs):
    """`ppedu compare-tp-pp --json`'s object: the same numbers under the keys the book reads."""
    fast, _ = runs
    out = json.loads(json.dumps(fast.to_json()))
    assert out["layers"] == CONFIG.n_layer and out["bandwidth_gbps"] is None and "mesh" not in out
    for k in ("tp", "pp"):
        assert out[k] == dataclasses.asdict(getattr(fast, k))
        assert out["predicted"][k]["step_time_s"] == getattr(fast.predicted_step_s, k)
        assert out["predicted"][k]["latency_terms"] == getattr(fast.predicted, k).latency_terms
    assert out["crossover_latency_ms"] == fast.crossover_latency_ms


@pytest.mark.ranks
def test_tp_moves_more_bytes_than_pp(runs):
    fast, _ = runs
    assert fast.tp.bytes > fast.pp.bytes
    assert fast.tp.messages > fast.pp.messages


@pytest.mark.ranks
def test_latency_hurts_tp_more_than_pp(runs):
    fast, slow = runs
    grow = {k: getattr(slow, k).comm_time_s - getattr(fast, k).comm_time_s for k in ("tp", "pp")}
    assert grow["tp"] > grow["pp"]
    step = {k: getattr(slow, k).step_time_s - getattr(fast, k).step_time_s for k in ("tp", "pp")}
    assert step["tp"] > step["pp"]
    # a ring all-reduce over n=2 ranks pays 2(n-1) = 2 latencies, 4 all-reduces per layer, on every rank
    assert slow.tp.link_delay_s >= 0.99 * 4 * CONFIG.n_layer * 2 * LATENCY_MS / 1e3
    assert fast.tp.link_delay_s == 0.0


def test_a_bad_comparison_fails_before_any_rank_starts():
    class NoRanks:                    # a group whose run must never be reached
        world_size = 2

        def run(self, *args, **kwargs):
            raise AssertionError("ranks started")
    with pytest.raises(UsageError, match=r"n_head=4 must be divisible by n=3"):
        compare_tp_pp(3, CONFIG, BATCH, SEQ, group=NoRanks())
    with pytest.raises(UsageError, match=r"mesh_tp must divide n=4"):
        compare_tp_pp(4, CONFIG, BATCH, SEQ, mesh_tp=3, group=NoRanks())
    with pytest.raises(UsageError, match=r"microbatches must divide batch=4 \(got 3\)"):
        compare_tp_pp(2, CONFIG, BATCH, SEQ, microbatches=3, group=NoRanks())
    with pytest.raises(UsageError, match=r"n must equal the group's world_size=2 \(got 4\)"):
        compare_tp_pp(4, CONFIG, BATCH, SEQ, group=NoRanks())


def test_cost_model_directions_and_crossover():
    slow_bw = predict_comm_time(CONFIG, 4, latency_ms=1.0, bandwidth_gbps=0.01, batch=BATCH, seq=SEQ)
    fast_link = predict_comm_time(CONFIG, 4, latency_ms=0.0, batch=BATCH, seq=SEQ)
    assert fast_link.tp.comm_time_s == fast_link.pp.comm_time_s == 0.0
    assert slow_bw.tp.comm_time_s > slow_bw.pp.comm_time_s > 0
    assert predict_comm_time(CONFIG, 1).tp.messages == 0
    compute = 0.010
    x = crossover_latency_ms(CONFIG, 2, compute, batch=BATCH, seq=SEQ)
    assert x is not None and x > 0
    below = predict_step_time(CONFIG, 2, compute, 0.5 * x, batch=BATCH, seq=SEQ)
    above = predict_step_time(CONFIG, 2, compute, 2.0 * x, batch=BATCH, seq=SEQ)
    assert below.tp < below.pp and above.pp < above.tp
    # more layers -> more all-reduces -> the crossover comes at a lower latency
    deeper = crossover_latency_ms(GPTConfig(n_layer=8, n_head=4, n_embd=32, block_size=16), 2, compute,
                                  batch=BATCH, seq=SEQ)
    assert deeper < x
    # alpha-beta ring: 4L all-reduces of 2(n-1) latencies each (L=4, n=2, alpha=2 ms)
    assert math.isclose(predict_comm_time(CONFIG, 2, 2.0).tp.comm_time_s, 4 * 4 * 2 * 2e-3)
    assert math.isclose(predict_comm_time(CONFIG, 4, 2.0).tp.comm_time_s, 4 * 4 * 6 * 2e-3)


@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("m", [1, 2, 8])
@pytest.mark.parametrize("latency_s", [0.0, 0.002, 0.05])
def test_simulator_tp_and_pp_terms_match_the_closed_forms(n: int, m: int, latency_s: float) -> None:
    """The crossover plot's theory comes from the simulator; with an infinitely fast wire GPipe
    exposes (m+n-1) slots of compute/(n m) and each of the 2(n-1) borders' latency once, and TP
    pays all 4L all-reduces, each a ring of 2(n-1) latency steps."""
    from ppedu.schedules.simulator import pp_step_time, tp_step_time
    compute, layers = 0.12, 6
    assert pp_step_time(compute, n, m, latency_s) == pytest.approx(
        compute * (m + n - 1) / (m * n) + 2 * (n - 1) * latency_s)
    assert tp_step_time(compute, layers, n, latency_s) == pytest.approx(
        compute / n + 4 * layers * 2 * (n - 1) * latency_s)
    assert tp_step_time(compute, layers, 1, latency_s) == compute     # one rank talks to nobody
    # bandwidth: a ring all-reduce puts 2(n-1)/n of its payload on each rank's wire
    assert tp_step_time(0.0, 1, n, 0.0, 1e6, 1e9) == pytest.approx(4 * 2 * (n - 1) / n * 1e-3)
