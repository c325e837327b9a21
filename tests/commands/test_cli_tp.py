"""`ppedu compare-tp-pp`: exit 0 with one JSON object, exit 2 with one line (no traceback) on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ppedu import cli

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--layers", "2", "--hidden", "32", "--heads", "2", "--batch", "2", "--seq", "8", "--repeats", "1"]


def ppedu(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "ppedu.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.ranks
def test_json_run_exits_0_with_one_object():
    proc = ppedu("compare-tp-pp", "-n", "2", *SMALL, "--latency-ms", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1
    out = json.loads(proc.stdout)
    for k in ("tp", "pp"):
        for field in ("messages", "bytes", "comm_time_s", "step_time_s", "param_bytes_per_rank"):
            assert isinstance(out[k][field], (int, float)), (k, field)
    assert out["tp"]["messages"] == 4 * 2 and out["pp"]["messages"] == 2
    assert out["latency_ms"] == 1.0 and "TP over 2 ranks" in proc.stderr   # progress on stderr


@pytest.mark.parametrize("args, needle", [
    (["-n", "3"], "--heads=4 must be divisible by n=3"),
    (["-n", "0"], "-n must be an integer in 1..8"),
    (["-n", "9"], "-n must be an integer in 1..8"),
    (["-n", "4", "--layers", "2"], "--layers must be >= n=4"),
    (["-n", "4", "--tp", "3"], "--tp must divide n=4"),
    (["-n", "2", "--hidden", "30"], "--hidden must be a multiple of --heads=4"),
    (["-n", "2", "--batch", "6", "-m", "4"], "--microbatches must divide --batch=6"),
    (["-n", "2", "--latency-ms", "-1"], "--latency-ms must be a number"),
])
def test_bad_input_exits_2_with_one_line(capsys, args, needle):
    assert cli.main(["compare-tp-pp", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], captured.err


@pytest.mark.ranks
def test_bad_input_in_a_real_process_has_no_traceback():
    proc = ppedu("compare-tp-pp", "-n", "3", timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
