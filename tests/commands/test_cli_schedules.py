"""`ppedu simulate` and `ppedu validate` as a student runs them: exit codes and one-line errors."""

import json
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ranks


def ppedu(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ppedu.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd)


def test_simulate_json_has_the_metrics():
    out = ppedu("simulate", "--schedule", "1f1b", "-p", "4", "-m", "8", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    for key in ("schedule", "p", "m", "v", "makespan", "bubble_fraction",
                "theory_bubble_fraction", "peak_inflight_microbatches"):
        assert key in report
    assert report["bubble_fraction"] == pytest.approx(3 / 11)
    assert report["theory_bubble_fraction"] == pytest.approx(3 / 11)
    assert report["peak_inflight_microbatches"] == [4, 3, 2, 1]


def test_simulate_prints_gantt_and_writes_trace(tmp_path):
    trace = tmp_path / "t.json"
    out = ppedu("simulate", "--schedule", "interleaved", "-p", "2", "-m", "4", "--v", "2",
                "--trace", str(trace))
    assert out.returncode == 0, out.stderr
    assert re.search(r"\|\s+t \| GPU0", out.stdout) and "bubble fraction" in out.stdout
    assert "one row = 0.5 time units" in out.stdout  # a chunk is half a stage
    assert json.loads(trace.read_text())["traceEvents"]


@pytest.mark.parametrize("args, text", [
    (["--schedule", "interleaved", "-p", "4", "-m", "9"], "m must be a multiple of max(1, m // p) = 2"),
    (["--schedule", "dualpipev", "-p", "4", "-m", "6"], "m must be an integer in 8..1024 for dualpipev"),
    (["--schedule", "nope"], "schedule must be one of"),
    (["-p", "0"], "p must be an integer in 1..64 (got 0)"),
    (["--tf", "-1"], "tf must be a number"),
    (["-m", "x"], "invalid int value"),
])
def test_simulate_bad_input_exit_2_one_line(args, text):
    out = ppedu("simulate", *args)
    assert out.returncode == 2
    assert text in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_validate_exit_codes(tmp_path):
    good = ppedu("validate", "example:1f1b_p4_m4")
    assert good.returncode == 0 and good.stdout.startswith("VALID")
    bad = ppedu("validate", "example:seed002_1f1b")
    assert bad.returncode == 1
    assert "GPU1 runs B_1 at t=5" in bad.stdout.splitlines()[0]
    assert "| t | GPU0" in bad.stdout
    broken = tmp_path / "broken.md"
    broken.write_text("| t | GPU0 | GPU1 |\n|---|---|---|\n| 0 | F_1 | ?? |\n", encoding="utf-8")
    out = ppedu("validate", str(broken))
    assert out.returncode == 2 and "line 3" in out.stderr and "Traceback" not in out.stderr
    missing = ppedu("validate", str(tmp_path / "nope.md"))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_validate_file_roundtrip(tmp_path):
    from ppedu.schedules.tables import example_text
    path = tmp_path / "mine.md"
    path.write_text(example_text("1f1b_p4_m4"), encoding="utf-8")
    out = ppedu("validate", str(path), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["ok"] is True


NEW_NAMES = ["looped-bfs", "interleaved-zb", "zbv", "zb2", "dualpipev"]


@pytest.mark.parametrize("name", NEW_NAMES)
def test_simulate_accepts_every_new_schedule(name):
    out = ppedu("simulate", "--schedule", name, "-p", "4", "-m", "8", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["v"] == (1 if name == "zb2" else 2)
    assert report["tw"] == (0.0 if name == "looped-bfs" else 1.0)  # the W-splitting ones: T_W = T_B
    assert report["bubble_fraction"] == pytest.approx(report["theory_bubble_fraction"])
    assert report["peak_inflight_microbatches"] == report["theory_peak_inflight_microbatches"]


@pytest.mark.parametrize("name", ["looped-bfs", "zbv"])  # default v; the V placement. Every new
def test_train_check_grads_accepts_new_schedules(name):  # name's gradients: tests/training/test_engine.py
    out = ppedu("train", "--schedule", name, "-p", "2", "-m", "4", "--workload", "model",
                "--check-grads", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["grad_max_abs_diff"] < 1e-5
