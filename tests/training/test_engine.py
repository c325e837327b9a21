"""The engine on real ranks: gradients equal a single-process model; timed bubbles equal theory;
activation memory is what 1F1B promises (measured, not assumed)."""

from __future__ import annotations

import pickle
import warnings

import pytest

from ppedu.runtime import cluster as cl
from ppedu.training.config import TrainConfig
from ppedu.training.engine import reference_gradients, train
from ppedu.errors import UsageError
from ppedu.schedules import build_schedule

GRAD_CASES = [(s, m) for s in ("naive", "gpipe", "1f1b", "zb1") for m in (1, 2, 4, 8)]


@pytest.fixture(scope="module")
def cluster1():
    with cl.Cluster(1) as c:
        yield c


def _check_grads(group, schedule, p, m, v=1):
    result = train(TrainConfig(schedule, p, m, v=v, workload="model", check_grads=True), group=group)
    ref_loss, _ = reference_gradients(result.config)
    assert result.grad_max_abs_diff < 1e-5, (schedule, p, m, result.grad_max_abs_diff)
    assert result.losses[0] == pytest.approx(ref_loss, rel=1e-5)


@pytest.mark.ranks
@pytest.mark.parametrize("schedule,m", GRAD_CASES)
def test_gradients_equal_reference_p1(cluster1, schedule, m):
    _check_grads(cluster1, schedule, 1, m)


@pytest.mark.ranks
@pytest.mark.parametrize("schedule,m", GRAD_CASES)
def test_gradients_equal_reference_p2(cluster2, schedule, m):
    _check_grads(cluster2, schedule, 2, m)


@pytest.mark.ranks
@pytest.mark.parametrize("schedule,m", GRAD_CASES)
def test_gradients_equal_reference_p4(cluster4, schedule, m):
    _check_grads(cluster4, schedule, 4, m)


@pytest.mark.ranks
@pytest.mark.parametrize("p,m", [(1, 2), (2, 2), (2, 4), (2, 8), (4, 4), (4, 8)])
def test_interleaved_gradients_equal_reference(cluster1, cluster2, cluster4, p, m):
    group = {1: cluster1, 2: cluster2, 4: cluster4}[p]
    _check_grads(group, "interleaved", p, m, v=2)


# (schedule, v, m): every schedule torch ships beyond GPipe/1F1B, and ZB-H2; m not a multiple
# of p where torch's rounds rule allows it
NEW_CASES = [("looped-bfs", 2, 4), ("interleaved-zb", 2, 4), ("interleaved", 2, 3), ("zbv", 2, 4),
             ("zbv", 2, 2), ("zb2", 1, 4), ("dualpipev", 2, 8), ("dualpipev", 2, 11)]


@pytest.mark.ranks
@pytest.mark.parametrize("p", [2, 4])
@pytest.mark.parametrize("schedule,v,m", NEW_CASES)
def test_new_schedules_gradients_equal_reference(cluster2, cluster4, p, schedule, v, m):
    if schedule == "dualpipev" and m < 2 * p:
        pytest.skip("DualPipeV needs m >= 2p")
    _check_grads(cluster2 if p == 2 else cluster4, schedule, p, m, v=v)


@pytest.mark.ranks
def test_measured_peak_activations_follow_the_papers(cluster4):
    """p=4, m=8, model workload: the micro-batches each rank held (from its measured timeline)
    equal the closed forms, and the bytes autograd saved on rank 0 rank the schedules as the
    papers do: ZB-V and ZB1P hold what 1F1B's first rank holds (p micro-batches' worth),
    ZB-H2 about (2p-1)/p of it, looped BFS every micro-batch (like GPipe)."""
    from ppedu.schedules.theory import peak_activations
    runs = {s: train(TrainConfig(s, 4, 8, v=v, workload="model", n_layer=8), group=cluster4)
            for s, v in [("1f1b", 1), ("gpipe", 1), ("zbv", 2), ("interleaved-zb", 2), ("zb2", 1),
                         ("looped-bfs", 2)]}
    for name, run in runs.items():
        held = [r.peak_inflight_microbatches for r in run.per_rank]
        assert held == [peak_activations(name, 4, 8, r, run.config.v) for r in range(4)], name
    first = {s: r.per_rank[0].peak_activation_bytes for s, r in runs.items()}
    assert first["zbv"] / first["1f1b"] == pytest.approx(1.0, rel=0.25)
    assert first["interleaved-zb"] / first["1f1b"] == pytest.approx(1.0, rel=0.25)
    assert first["zb2"] / first["1f1b"] == pytest.approx(7 / 4, rel=0.1)
    assert first["looped-bfs"] / first["gpipe"] == pytest.approx(1.0, rel=0.25)


@pytest.mark.ranks
def test_timed_zero_bubble_family_far_below_1f1b(cluster4):
    """T_F = T_B = T_W on real ranks, p=4, m=8: ZB-V's and ZB-H2's measured bubbles are far
    below 1F1B's measured one (theory: 0.059 and 0.111 vs 0.273) and follow the simulator fed
    the measured hop latency. A loaded CPU adds per-action overhead to all three alike."""
    def run(name: str, v: int):
        return train(TrainConfig(name, 4, 8, v=v, workload="timed", tf_ms=40, tb_ms=40, tw_ms=40),
                     group=cluster4)
    base = run("1f1b", 1).measured_bubble_fraction
    for name, v in [("zbv", 2), ("zb2", 1)]:
        result = run(name, v)
        assert result.measured_bubble_fraction < 0.6 * base, (name, result.measured_bubble_fraction)
        assert result.measured_bubble_fraction == pytest.approx(
            result.simulated_bubble_fraction, abs=0.08), name


@pytest.mark.ranks
def test_training_steps_reduce_the_loss(cluster2):
    result = train(TrainConfig("1f1b", 2, 4, workload="model", steps=5), group=cluster2)
    assert len(result.losses) == 5 and result.losses[-1] < result.losses[0]


@pytest.mark.ranks
@pytest.mark.parametrize("schedule", ["gpipe", "1f1b"])
@pytest.mark.parametrize("p,m", [(2, 1), (2, 4), (2, 8), (4, 1), (4, 4), (4, 8)])
def test_timed_bubble_matches_theory(cluster2, cluster4, schedule, p, m):
    group = cluster2 if p == 2 else cluster4
    """Three steps, judged on the fastest: a busy CPU (a CI runner) only ever *adds* wake-up
    delay to a timed wait, while a wrong schedule would be off in every step alike."""
    result = train(TrainConfig(schedule, p, m, workload="timed", tf_ms=30, tb_ms=30, steps=3),
                   group=group)
    best = min(range(3), key=lambda s: result.step_times_s[s])
    assert result.fastest_step_bubble_fraction == result.step_bubble_fractions[best]
    assert result.step_bubble_fractions[best] == pytest.approx(result.theory_bubble_fraction, abs=0.03)
    # the fastest step (after the first) replayed from its measured parts, and theory (mean
    # costs: the configured t_f, t_b and the measured hop), both explain the fastest step
    steady = result.step_times_s[1:]
    assert abs(result.replay_errors[min(range(2), key=steady.__getitem__)]) < 0.05
    assert result.theory_makespan_s == pytest.approx(result.step_times_s[best], rel=0.05)
    assert result.step_bubble_fractions[-1] == result.measured_bubble_fraction


@pytest.mark.ranks
def test_one_simulation_of_a_run_everywhere(cluster2):
    """The Gantt's simulated timeline, its bubble and makespan, the JSON and the replay error are
    one simulation (the step replayed from its measured parts); on the timed workload it agrees
    with theory (mean costs), the simulator fed the configured costs."""
    for workload in ("model", "timed"):
        r = train(TrainConfig("gpipe", 2, 4, workload=workload, tf_ms=20, tb_ms=20), group=cluster2)
        assert r.simulation_error == pytest.approx(r.simulated.makespan / r.timeline.makespan - 1)
        summary = r.summary()
        assert summary["simulated_makespan_s"] == r.simulated.makespan == r.simulated_makespan_s
        assert summary["simulated_bubble_fraction"] == r.simulated.bubble_fraction()
        assert {e.kind for e in r.simulated.events} >= {"F", "B"}
    assert r.simulated_makespan_s == pytest.approx(r.theory_makespan_s, rel=0.1)


@pytest.mark.ranks
def test_activation_memory_1f1b_bounded_by_p_gpipe_holds_m(cluster4):
    runs = {s: train(TrainConfig(s, 4, 8, workload="model"), group=cluster4) for s in ("gpipe", "1f1b")}
    first = {s: r.per_rank[0] for s, r in runs.items()}
    assert first["1f1b"].peak_inflight_microbatches == 4
    assert first["gpipe"].peak_inflight_microbatches == 8
    # bytes autograd really saved on rank 0: GPipe keeps 8 micro-batches, 1F1B 4
    ratio = first["gpipe"].peak_activation_bytes / first["1f1b"].peak_activation_bytes
    assert ratio == pytest.approx(2.0, rel=0.05)
    # and 1F1B's last rank holds just one
    assert runs["1f1b"].per_rank[3].peak_inflight_microbatches == 1


@pytest.mark.ranks
def test_link_latency_slows_the_step(cluster2):
    fast = train(TrainConfig("1f1b", 2, 4, workload="timed", tf_ms=10, tb_ms=10), group=cluster2)
    slow = train(TrainConfig("1f1b", 2, 4, workload="timed", tf_ms=10, tb_ms=10, latency_ms=15),
                 group=cluster2)
    assert slow.step_time_s > fast.step_time_s + 0.05  # >= 2 hops of 15 ms on the critical path
    assert slow.simulated_makespan_s == pytest.approx(slow.step_time_s, rel=0.1)
    assert slow.theory_makespan_s == pytest.approx(slow.step_time_s, rel=0.1)


@pytest.mark.parametrize("kwargs,needle", [
    ({"p": 0}, "p must be an integer in 1..16 (got 0)"),
    ({"m": -1}, "m must be an integer in 1..256 (got -1)"),
    ({"schedule": "pipedream"}, "schedule must be one of"),
    ({"schedule": "interleaved", "p": 4, "m": 9, "v": 2}, "m must be a multiple of max(1, m // p)"),
    ({"schedule": "dualpipev", "p": 4, "m": 6}, "m must be an integer in 8..1024 for dualpipev"),
    ({"workload": "gpu"}, "workload must be one of timed, model"),
    ({"tf_ms": -5}, "tf_ms must be a number"),
    ({"workload": "model", "p": 4, "n_layer": 2}, "n_layer must be an integer in 4..64"),
])
def test_bad_config_is_a_usage_error(kwargs, needle):
    with pytest.raises(UsageError) as info:
        TrainConfig(**kwargs)
    assert needle in str(info.value)


@pytest.mark.ranks
@pytest.mark.parametrize("method", ["balanced", "memory"])
def test_partitions_keep_gradients_exact(cluster2, method):
    result = train(TrainConfig("1f1b", 2, 2, workload="model", n_layer=5, partition=method,
                               check_grads=True), group=cluster2)
    assert result.grad_max_abs_diff < 1e-5
    assert len(result.partition.stage_costs) == 2 and result.partition.method == method


def test_the_config_is_checked_once_and_carries_its_schedule():
    """TrainConfig builds the schedule once (the ranks get it pickled with the config) and its
    defaults are the CLI's and the panels'; a field assigned afterwards would bypass the check."""
    cfg = TrainConfig("zbv", 2, 4)
    assert cfg.built_schedule.ranks == build_schedule("zbv", 2, 4).ranks and cfg.v == 2
    assert pickle.loads(pickle.dumps(cfg)).built_schedule.ranks == cfg.built_schedule.ranks
    assert TrainConfig().m == 8
    cfg.m = 6
    with pytest.raises(UsageError, match="dataclasses.replace"):
        cfg.built_schedule
