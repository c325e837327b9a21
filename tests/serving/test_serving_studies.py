"""Chapter 5's measured studies (``ppedu.serving.studies``): continuous vs static as output lengths
spread, and goodput vs arrival rate, measured on real ranks (timed workload) with the calibrated
simulator's prediction beside every point; their plots; ``serve-sweep``'s simulated goodput."""

from __future__ import annotations

import argparse
import re
from types import SimpleNamespace

import pytest

from ppedu.commands import serve_sweep
from ppedu.errors import UsageError
from ppedu.notebook.plots import serving as plots_serving
from ppedu.serving import studies
from ppedu.serving.scheduler import BatchingConfig


@pytest.mark.ranks
@pytest.mark.timeout(120)
def test_measured_gain_of_continuous_grows_with_the_spread(cluster2):
    """16 requests, max batch 2, K=1: the cost model says 1.00x at sigma 0 (fixed lengths) and 1.40x at 1.5;
    measured (fastest of two runs each), the gain must grow by a clear margin, and the simulator,
    given each run's measured overheads, must land near it."""
    rows = studies.length_variance([0.0, 1.5], 2, group=cluster2, n=16, max_batch=2, repeats=2)
    assert rows[0].cv < rows[1].cv
    for r in rows:
        for policy, run in (("static", r.static), ("continuous", r.continuous)):
            assert run.source == "timed" and run.tokens_match_reference is True
            assert run.policy == policy and run.inflight == 1
            assert run.throughput_tok_s == max(r.tries_tok_s[policy]) and len(r.tries_tok_s[policy]) == 2
        assert r.gain == pytest.approx(r.simulated_gain, abs=0.15), r
    assert rows[1].gain > rows[0].gain + 0.15, [r.gain for r in rows]


def test_simulated_gain_grows_with_the_spread():
    rows = studies.length_variance([0.0, 0.75, 1.5], 2, n=64, simulate=True)
    gains = [r.gain for r in rows]
    assert gains == sorted(gains) and gains[0] < 1.2 < 1.5 < gains[-1], gains
    assert all(r.simulated_gain is None and r.static.source == "simulated" for r in rows)


def test_length_variance_rejects_bad_repeats():
    with pytest.raises(UsageError, match=r"repeats must be an integer in 1\.\.10 \(got 0\)"):
        studies.length_variance([1.0], 2, repeats=0, simulate=True)


@pytest.mark.ranks
@pytest.mark.timeout(120)
def test_measured_goodput_falls_past_the_knee(cluster2):
    """Continuous, K=1, 32 requests: at 40/s nearly all meet TTFT <= 0.1 s and TPOT <= 40 ms;
    at 360/s they arrive as one burst and those at its end wait too long: attainment and goodput
    drop although the server works flat out. Each point carries the simulator's goodput."""
    sweep = studies.rate_sweep([BatchingConfig("continuous", 4, 1)], [40, 360], 2,
                               slo_ttft_s=0.1, slo_tpot_s=0.04, group=cluster2)
    low, high = sweep["continuous, K=1"].points
    assert (low.rate, high.rate) == (40, 360)
    assert low.tokens_match_reference is True and high.tokens_match_reference is True
    assert high.slo_attainment < low.slo_attainment
    assert high.goodput_req_s < 0.8 * low.goodput_req_s, sweep
    assert high.goodput_req_s < 0.5 * high.rate                          # far below the offered load
    assert 0 <= high.simulated_goodput_req_s < low.simulated_goodput_req_s, sweep


def test_simulated_sweep_batches_in_flight_raise_capacity():
    configs = [BatchingConfig("continuous", 4, 1), BatchingConfig("continuous", 4, 2)]
    sweep = studies.rate_sweep(configs, [40, 120, 360], 2, 0.1, 0.04, simulate=True)
    assert list(sweep) == ["continuous, K=1", "continuous, K=2"]
    peak = {k: max(pt.goodput_req_s for pt in s.points) for k, s in sweep.items()}
    assert peak["continuous, K=2"] > 1.3 * peak["continuous, K=1"], sweep
    assert all(pt.simulated_goodput_req_s is None and pt.run.goodput.slo_met >= 0
               for s in sweep.values() for pt in s.points)


@pytest.mark.ranks
def test_measured_label_names_workload_ranks_and_backend(cluster2):
    assert studies.measured_label(cluster2, 2) == "measured (timed workload, 2 ranks, gloo)"


def _rows(simulated: bool) -> list[SimpleNamespace]:
    """Stand-ins for ``studies.LengthRow``: the attributes the plot reads."""
    return [SimpleNamespace(sigma=sigma, cv=cv, gain=g, simulated_gain=(g + 0.02) if simulated else None)
            for sigma, cv, g in ((0.0, 0.0, 1.0), (0.75, 0.6, 1.4), (1.5, 1.2, 1.7))]


def test_length_variance_plot_shows_measured_solid_and_simulated_dashed():
    fig = plots_serving.length_variance(_rows(True), "Gain vs spread", "measured (timed workload, 2 ranks, gloo)")
    measured, simulated = fig.data
    assert measured.name == "measured (timed workload, 2 ranks, gloo)" and measured.line.dash == "solid"
    assert simulated.name.startswith("simulated") and simulated.line.dash == "dash"
    assert list(simulated.y) == [1.02, 1.42, 1.72] and list(measured.x) == [0.0, 0.6, 1.2]
    assert list(measured.text) == ["σ = 0", "σ = 0.75", "σ = 1.5"]          # each point's workload
    assert fig.layout.title.text == "Gain vs spread"
    assert "coefficient of variation" in fig.layout.xaxis.title.text
    assert "ratio" in fig.layout.yaxis.title.text
    assert len(plots_serving.length_variance(_rows(False), "t").data) == 1     # nothing simulated


def test_goodput_plot_groups_measured_and_simulated_per_configuration():
    pts = [SimpleNamespace(rate=r, goodput_req_s=g, simulated_goodput_req_s=g + 1)
           for r, g in ((40, 30.0), (120, 45.0), (360, 20.0))]
    sweep = {key: SimpleNamespace(key=key, label=key, points=pts) for key in ("continuous, K=2", "static, K=2")}
    fig = plots_serving.goodput_vs_rate(sweep, "Knee", "measured (x)")
    lines = [t for t in fig.data if t.legendgroup != "ideal"]
    assert [(t.name, t.legendgroup, t.line.dash) for t in lines] == [
        ("continuous, K=2", "measured (x)", "solid"), ("continuous, K=2", plots_serving.SIMULATED, "dash"),
        ("static, K=2", "measured (x)", "solid"), ("static, K=2", plots_serving.SIMULATED, "dash")]
    assert lines[0].line.color == lines[1].line.color != lines[2].line.color   # one colour per config
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == [40, 120, 360]
    assert "goodput" in fig.layout.yaxis.title.text and "requests/s" in fig.layout.xaxis.title.text
    assert fig.layout.title.text == "Knee" and fig.layout.yaxis.range[1] >= 45.0


@pytest.mark.ranks
@pytest.mark.timeout(120)
def test_timed_serve_sweep_reports_the_simulated_goodput(cluster2, monkeypatch, capsys):
    import ppedu.runtime.cluster as cluster_mod
    monkeypatch.setattr(cluster_mod, "connect", lambda p, *a, **k: cluster2)
    parser = argparse.ArgumentParser()
    serve_sweep.add_arguments(parser)
    args = parser.parse_args(["--requests", "8", "--rates", "50,400", "--t0-ms", "4", "--c-ms", "0.2",
                              "--max-batch", "4", "--slo-ttft", "0.1", "--slo-tpot", "0.04"])
    out = serve_sweep.sweep(args)
    assert out["source"] == "timed" and [pt["rate"] for pt in out["points"]] == [50.0, 400.0]
    for pt in out["points"]:
        assert pt["tokens_match_reference"] is True and pt["simulated_goodput_req_s"] >= 0
    assert serve_sweep.run(args) == 0
    assert "simulated goodput" in capsys.readouterr().out


def test_sweep_checks_every_flag_before_starting_ranks(monkeypatch):
    """A bad value fails as a UsageError before any rank starts (the sweep reuses one group)."""
    monkeypatch.setattr(serve_sweep, "connect", lambda p: pytest.fail("ranks started before the check"))
    parser = argparse.ArgumentParser()
    serve_sweep.add_arguments(parser)
    for flags, needle in ((["-p", "2", "--inflight", "3"], "inflight must be an integer in 1..2"),
                          (["-p", "0"], "p must be an integer in 1..")):
        with pytest.raises(UsageError, match=re.escape(needle)):
            serve_sweep.sweep(parser.parse_args(flags + ["--rates", "5,20"]))


@pytest.mark.ranks
@pytest.mark.timeout(120)
def test_model_run_is_simulated_with_its_own_fitted_steps(cluster2, monkeypatch, capsys):
    """A model run's steps cost what the tiny GPT takes on this CPU (~2 ms + 0.15 ms/token), not
    the timed default (9.9 ms + 0.13 ms/token: simulating with it was 1.5-4x off). Given the
    t0 + c x tokens fitted through the run's own steps and its overheads, the simulator lands
    near the run (K=1: the ranks never compute at once, so they do not slow each other)."""
    from ppedu.commands import serve_bench
    import ppedu.runtime.cluster as cluster_mod
    monkeypatch.setattr(cluster_mod, "connect", lambda p, *a, **k: cluster2)
    parser = argparse.ArgumentParser()
    serve_bench.add_arguments(parser)
    args = parser.parse_args(["--workload", "model", "--requests", "16", "--max-batch", "4"])
    result, sim = serve_bench.bench(args, serve_bench.setup(args, 0.0), cluster2)
    report = serve_bench.to_json(result, sim)
    assert report["source"] == "model" and report["tokens_match_reference"] is True
    assert report["simulated_step_cost"] == "fitted" and report["fit_t0_s"] < 0.0099
    assert report["simulated_throughput_tok_s"] == pytest.approx(report["throughput_tok_s"], rel=0.25)
    assert serve_bench.run(args) == 0
    assert "fitted steps" in capsys.readouterr().out


def test_driver_overhead_skips_the_runs_first_launch():
    """The gap after a run's very first step pays one-off costs (measured 8-10 ms on a model run
    whose later launches cost ~0): charged to every iteration it made the simulator 5-35% slow.
    Only later launch-after-launch gaps count as the driver's work."""
    from ppedu.schedules.timeline import Timeline
    from ppedu.serving.calibrate import LAUNCH, overhead_samples
    from ppedu.serving.metrics import slot_event
    starts = [0.0, 0.019, 0.030, 0.0405]             # rank 0: four 10 ms steps, gaps 9, 1, 0.5 ms
    ends = [0.010, 0.029, 0.040, 0.050]
    events = [slot_event(0, "decode", k % 2, s, e) for k, (s, e) in enumerate(zip(starts, ends))]
    samples = overhead_samples(Timeline(events, 1), [LAUNCH] * 4)
    assert samples.driver_s == pytest.approx([0.001, 0.0005])   # k=2, k=3; not k=1's 9 ms


def _chunked_and_kv():
    from ppedu.serving.cost import ServingCost
    cost = ServingCost(t0_s=0.02, c_s=0.001)
    return (studies.chunked_prefill(2, [None, 8], n=12, cost=cost, simulate=True),
            studies.kv_budget(2, [None, 8], n=12, cost=cost, simulate=True))


def test_runs_are_typed_with_english_keys_and_a_report_as_serve_bench_writes_it():
    chunked, kv = _chunked_and_kv()
    assert list(chunked) == ["no chunking", "budget 8"] and list(kv) == ["unlimited", "8 blocks"]
    split = chunked["budget 8"]
    assert (split.key, split.label) == ("budget 8", "budget 8")
    assert split.tpot_p99_s == split.result.tpot.p99 and split.step_cv == split.result.step_cv()
    assert kv["8 blocks"].preemptions == kv["8 blocks"].result.kv.preemptions > 0
    report = split.to_dict()
    assert report == split.result.to_dict() and "_result" not in report      # simulated: nothing beside
    with pytest.raises(UsageError, match=r"^a run's numbers are attributes: write run\.e2e_p99_s, "
                                         r"not run\['e2e_p99_s'\]$"):
        split["e2e_p99_s"]


def test_a_measured_run_reports_the_goodput_and_the_simulators_prediction(monkeypatch):
    """``run`` on ranks adds ``simulated_*`` (and the goodput, given targets) to the report, as the
    dict it replaced did; faked here with a simulated result standing in for the served one."""
    from dataclasses import replace
    import ppedu.serving.server as server
    from ppedu.serving.overheads import Overheads, StepFit
    from ppedu.serving.simulator import simulate_serving
    from ppedu.serving.workload import make_workload
    requests, config, cost = make_workload(8, rate=50.0, seed=0), BatchingConfig("continuous", 4, 2), studies.QUICK
    monkeypatch.setattr(server, "serve", lambda reqs, cfg, p, **kw: replace(
        simulate_serving(reqs, cfg, p, cost), source="timed", overheads=Overheads(0.001, 0.001, 0.0, 0.0),
        step_fit=StepFit(0.004, 0.0002), kv_stage_peak_blocks=[1, 1]))
    got = studies.run(requests, config, 2, cost, group=object(), slo=(0.1, 0.04))
    report = got.to_dict()
    assert {"slo_met", "goodput_req_s", "simulated_throughput_tok_s", "simulated_bubble_fraction",
            "simulated_decode_bubble_fraction", "simulated_goodput_req_s"} <= set(report)
    assert got.goodput_req_s == report["goodput_req_s"] == got.result.goodput(0.1, 0.04).goodput_req_s
    assert got.simulated_goodput_req_s == report["simulated_goodput_req_s"] is not None
    assert report["hop_s"] == got.hop_s == 0.001 and report["source"] == got.source == "timed"


def test_labels_follow_the_language_keys_do_not(monkeypatch):
    from ppedu.i18n import catalog
    monkeypatch.setattr(catalog, "_chosen", "zh")
    chunked, kv = _chunked_and_kv()
    sweep = studies.rate_sweep([BatchingConfig("static", 4, 2)], [40], 2, 0.1, 0.04, n=8, simulate=True)
    assert list(chunked) == ["no chunking", "budget 8"] and list(sweep) == ["static, K=2"]
    labels = [chunked["no chunking"].label, chunked["budget 8"].label, kv["unlimited"].label,
              kv["8 blocks"].label, sweep["static, K=2"].label]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in label) for label in labels), labels
    fig = plots_serving.kv_memory(kv, "t")
    assert list(fig.data[0].x) == [kv["unlimited"].label, kv["8 blocks"].label]
    assert plots_serving.goodput_vs_rate(sweep, "t").data[0].name == sweep["static, K=2"].label


def test_the_policy_check_grades_runs():
    from ppedu.notebook.checks.serving import check_policy_choice
    from ppedu.serving.workload import make_workload
    requests = make_workload(12, rate=40.0, output_len=6, output_dist="exponential", prompt_len=4, seed=0)
    served = {name: studies.run(requests, BatchingConfig(name, 8, 1), 2, studies.QUICK, simulate=True)
              for name in ("static", "continuous")}
    best = max(served, key=lambda n: served[n].throughput_tok_s)
    check_policy_choice(best, served, target_s=1e9)
    with pytest.raises(AssertionError, match="meets the target, but"):
        check_policy_choice(min(served, key=lambda n: served[n].throughput_tok_s), served, target_s=1e9)
