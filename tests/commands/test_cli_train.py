"""`ppedu train` and `ppedu doctor` from the outside: JSON keys, traces, one-line errors, exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from ppedu.cli import main

pytestmark = pytest.mark.ranks


def ppedu(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ppedu.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_train_json_has_the_promised_keys(tmp_path):
    trace = tmp_path / "t.json"
    out = ppedu("train", "--schedule", "1f1b", "-p", "2", "-m", "4", "--tf", "10", "--tb", "10",
                "--json", "--trace", str(trace))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("schedule", "p", "m", "measured_bubble_fraction", "theory_bubble_fraction",
                "simulated_bubble_fraction", "step_time_s", "per_rank"):
        assert key in data
    assert data["theory_bubble_fraction"] == pytest.approx(1 / 5)
    assert {"busy_s", "idle_s", "peak_activation_bytes"} <= set(data["per_rank"][0])
    events = json.loads(trace.read_text())["traceEvents"]
    assert sum(e.get("ph") == "X" and e.get("name", "").startswith("F") for e in events) == 2 * 4


def test_train_check_grads_reports_difference():
    out = ppedu("train", "--workload", "model", "-p", "2", "-m", "2", "--check-grads", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["grad_max_abs_diff"] < 1e-5


@pytest.mark.parametrize("args,needle", [
    (["train", "-p", "0"], "p must be an integer in 1..16 (got 0)"),
    (["train", "-m", "-1"], "m must be an integer in 1..256 (got -1)"),
    (["train", "--schedule", "nope"], "schedule must be one of"),
    (["train", "--schedule", "interleaved", "-p", "4", "-m", "9", "--v", "2"],
     "m must be a multiple of max(1, m // p) = 2 for interleaved"),
    (["train", "-p", "99"], "p must be an integer in 1..16 (got 99)"),
    (["train", "--workload", "cuda"], "workload must be one of"),
    (["train", "-p", "two"], "invalid int value"),
    (["train", "-p", "2", "--trace", "/no/such/dir/t.json"], "--trace must be a file in an existing folder"),
    (["doctor", "-p", "0"], "p must be an integer in 1..64 (got 0)"),
])
def test_bad_input_one_line_exit_2(args, needle, capsys):
    """In this process (a Python start per case cost ~2 s); a real process below."""
    try:
        code = main(args)
    except SystemExit as exc:     # argparse's own errors ("invalid int value")
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["train", "-p", "0"], ["train", "-p", "two"]])   # ppedu's check, argparse's
def test_bad_input_in_a_real_process_is_one_line_exit_2(args):
    out = ppedu(*args, timeout=60)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_doctor_json():
    out = ppedu("doctor", "-p", "4", "--json")
    assert out.returncode == 0
    info = json.loads(out.stdout)
    assert info["backend_for_p"] in ("gloo", "nccl") and info["cpu_cores"] >= 1
    assert info["oversubscribed"] == (info["backend_for_p"] == "gloo" and 4 > info["cpu_cores"])


def test_same_job_runs_under_torchrun():
    """Instructor labs launch the CLI with torchrun (env:// rendezvous) instead of the warm cluster."""
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
                          "--standalone", "-m", "ppedu.cli", "train", "-p", "2", "-m", "2",
                          "--workload", "model", "--check-grads", "--json"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1  # only the driver (rank 0) prints
    assert json.loads(lines[0])["grad_max_abs_diff"] < 1e-5


def test_interleaved_defaults_to_two_chunks_like_simulate():
    """`--v` defaults to 2 for interleaved in both commands, and a B longer than one row of the
    text Gantt is shown once, then as "..." (not as the same label twice)."""
    out = ppedu("train", "--schedule", "interleaved", "-p", "2", "-m", "2", "--tf", "5", "--tb", "10",
                timeout=120)
    assert out.returncode == 0, out.stderr
    assert "interleaved p=2 m=2 v=2" in out.stdout
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "GPU" not in line]
    grid = [[c.strip() for c in row.strip().strip("|").split("|")[1:]] for row in rows]
    assert any("..." in row for row in grid)
    for gpu in range(2):
        labels = [row[gpu] for row in grid if row[gpu] not in ("-", "...")]
        assert len(labels) == len(set(labels)), f"GPU{gpu}: an action is labelled in two rows {labels}"
    sim = ppedu("simulate", "--schedule", "interleaved", "-p", "2", "-m", "2", "--json", timeout=60)
    assert json.loads(sim.stdout)["v"] == 2


def test_train_text_shows_one_simulation_and_labels_the_theory():
    """The step-time line and the replay line come from one simulation (the step replayed from
    its measured parts); the simulator on mean costs is printed as "theory (mean costs)"."""
    out = ppedu("train", "-p", "2", "-m", "2", "--tf", "5", "--tb", "5", "--steps", "2", timeout=120)
    assert out.returncode == 0, out.stderr
    step = next(line for line in out.stdout.splitlines() if line.startswith("step time"))
    assert step.count("simulated") == 1 and "theory (mean costs)" in step and "the last" in step
    replay = next(line for line in out.stdout.splitlines() if line.startswith("simulated vs measured"))
    assert "replayed from its measured parts" in replay and "configured costs" not in out.stdout
    last, simulated = (float(re.search(rf"{word} ([0-9.]+) ms", step).group(1)) for word in ("the last", "simulated"))
    error = float(re.search(r"([-+][0-9.]+)%", replay).group(1))
    assert (simulated / last - 1) * 100 == pytest.approx(error, abs=1.0)   # the same replay, rounded
