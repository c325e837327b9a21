"""`ppedu serve-bench` from the outside: JSON keys, real vs simulated runs, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PPEDU = str(Path(sys.executable).parent / "ppedu")      # the console script of this venv
KEYS = ("policy", "p", "inflight", "throughput_tok_s", "ttft_p50_s", "tpot_p50_s", "e2e_p99_s",
        "bubble_fraction", "tokens_match_reference")


def serve_bench(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([PPEDU, "serve-bench", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(120)
def test_real_run_json_has_the_promised_keys(tmp_path):
    trace = tmp_path / "serve.json"
    out = serve_bench("--policy", "continuous", "-p", "2", "--inflight", "2", "--requests", "6",
                      "--max-batch", "2", "--lengths", "uniform", "--output-len", "4",
                      "--step-ms", "5", "--json", "--trace", str(trace))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)                          # exactly one JSON object on stdout
    assert set(KEYS) <= set(data)
    assert (data["policy"], data["p"], data["inflight"], data["requests"]) == ("continuous", 2, 2, 6)
    assert data["tokens_match_reference"] is True
    # a sanity check only: 6 requests of 5 ms steps is too short a run for accuracy (startup, a
    # loaded CPU); tests/test_serving.py holds the simulator to 10% on a run long enough for it
    assert data["simulated_throughput_tok_s"] == pytest.approx(data["throughput_tok_s"], rel=0.5)
    assert "starting 2 ranks" in out.stderr                 # progress goes to stderr
    events = [e for e in json.loads(trace.read_text())["traceEvents"] if e.get("ph") == "X"]
    assert len(events) == 2 * data["iterations"]           # every iteration ran on both stages


def test_simulate_scales_without_ranks():
    out = serve_bench("--simulate", "--policy", "static", "-p", "8", "--inflight", "8",
                      "--requests", "500", "--rate", "200", "--max-batch", "16", "--json", timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["source"] == "simulated" and data["p"] == 8 and data["requests"] == 500
    assert data["tokens_match_reference"] is None          # no model ran: nothing to compare
    assert 0.0 <= data["bubble_fraction"] < 1.0 and data["throughput_tok_s"] > 0


def test_human_output_names_the_numbers():
    out = serve_bench("--simulate", "-p", "4", "--requests", "20", timeout=60)
    assert out.returncode == 0, out.stderr
    for needle in ("throughput", "TTFT", "TPOT", "E2E latency", "bubble", "theory (p-K)/p"):
        assert needle in out.stdout


@pytest.mark.parametrize("args,needle", [
    (["--policy", "orca"], "policy must be one of static, dynamic, continuous (got 'orca')"),
    (["-p", "2", "--inflight", "3"], "inflight must be an integer in 1..2 (got 3)"),
    (["-p", "0"], "p must be an integer in 1..16 (got 0)"),
    (["--max-batch", "0"], "max_batch must be an integer in 1..4096 (got 0)"),
    (["--lengths", "zipf"], "lengths must be one of fixed, uniform, longtail (got 'zipf')"),
    (["--workload", "gpu"], "workload must be one of model, timed (got 'gpu')"),
    (["--rate", "-1"], "rate must be a number in >= 0.0 (got -1.0)"),
    (["--requests", "x"], "invalid int value"),
])
def test_bad_input_one_line_exit_2(args, needle):
    out = serve_bench(*args, timeout=60)
    assert out.returncode == 2
    assert needle in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert out.stdout == ""
