"""Two nodes on one machine: the README's multi-node command, run as two torchrun launchers
(``--nnodes=2 --nproc-per-node=2``, static rendezvous on 127.0.0.1 at a free port).

* the gradients of a 4-stage pipeline spread over the two "nodes" equal the single-process
  model's (``--check-grads``);
* killing one launcher (SIGKILL, as when a node is lost) ends the other within seconds, with an
  error naming the node and rank that went away, not a hang until the timeout.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 150  # four ranks importing torch on a shared 2-core machine
ENDED_WITHIN_S = 30  # a peer's closed connection is seen at once; the rest is torchrun tearing down


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(port: int, train_args: list[str]) -> list[subprocess.Popen]:
    """Node 0 and node 1, as the README writes them (HOST = 127.0.0.1)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=2",
         f"--node-rank={node}", f"--rdzv-endpoint=127.0.0.1:{port}", "-m", "ppedu.cli", "train",
         *train_args], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True) for node in (0, 1)]


def _kill_all(procs: list[subprocess.Popen]) -> None:
    for proc in procs:  # each launcher leads its own session: its ranks go with it
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


def _port_taken(err: str) -> bool:
    """The free port was taken by someone else between our probe and torchrun's bind."""
    return "address already in use" in err.lower() or "EADDRINUSE" in err


@pytest.mark.ranks
def test_two_nodes_give_the_single_process_gradients():
    for _attempt in range(2):  # a second try only if another process took the port meanwhile
        procs = _launch(_free_port(), ["-p", "4", "-m", "4", "--workload", "model",
                                       "--check-grads", "--json"])
        try:
            outs = [proc.communicate(timeout=STARTUP_S + 60) for proc in procs]
        finally:
            _kill_all(procs)
        if not _port_taken(outs[0][1] + outs[1][1]):
            break
    assert [proc.returncode for proc in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    lines = [ln for ln in outs[0][0].splitlines() if ln.startswith("{")]
    assert len(lines) == 1 and not outs[1][0].strip()  # only rank 0 (on node 0) prints
    result = json.loads(lines[0])
    assert result["p"] == 4 and len(result["per_rank"]) == 4
    assert result["grad_max_abs_diff"] < 1e-5


def _wait_for_progress(proc: subprocess.Popen, needle: str) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if needle in line:
            return
        if not line and proc.poll() is not None:
            pytest.fail(f"node 0 ended before training (rc {proc.returncode})")
    pytest.fail(f"no {needle!r} from node 0 within {STARTUP_S} s")


@pytest.mark.ranks
def test_a_killed_node_ends_the_other_with_an_error_naming_it():
    procs = _launch(_free_port(), ["-p", "4", "-m", "4", "--tf", "5", "--tb", "5",
                                   "--steps", "5000"])
    try:
        _wait_for_progress(procs[0], "step 3/")  # node 0's driver is training
        procs[1].send_signal(signal.SIGKILL)      # node 1's launcher is gone, without a word
        killed = time.monotonic()
        _, err = procs[0].communicate(timeout=ENDED_WITHIN_S + 30)
        took = time.monotonic() - killed
    finally:
        _kill_all(procs)
    assert procs[0].returncode != 0
    assert took < ENDED_WITHIN_S, f"node 0 took {took:.0f} s to notice"
    ours = [ln for ln in err.splitlines() if ln.startswith("ppedu train: failed:")]
    assert ours, err[-3000:]
    # the rank that talks across the cut names its peer on the lost node
    assert any("on node 1" in ln and ("rank 2" in ln or "rank 3" in ln) for ln in ours), ours


def test_a_failed_barrier_names_the_ranks_the_heartbeats_lost(monkeypatch):
    """A node killed between two steps fails the next barrier, which names nobody (gloo says
    "Connection closed by peer"): the heartbeats name the ranks that are gone (this once made the
    killed-node test above miss its 'rank 2 on node 1')."""
    import types

    from ppedu.errors import ClusterError
    from ppedu.runtime import launch, worker

    monkeypatch.setitem(worker._RANK, "ranks_per_node", 2)
    monkeypatch.setitem(worker._RANK, "rank", 1)
    group = object.__new__(launch.TorchrunGroup)
    group.rank, group.world_size = 1, 4
    group._beats = types.SimpleNamespace(silent=lambda: [2, 3])
    barrier = ClusterError("rank 1 on node 0: barrier failed after 0.0 s: Connection closed by peer",
                           rank=1, job="barrier")
    err = group._explain("step_job", barrier)
    assert str(err) == ("rank 2 on node 1, rank 3 on node 1 stopped answering; rank 1 on node 0: "
                        "barrier failed after 0.0 s: Connection closed by peer")
    assert err.rank == 1 and err.job == "barrier"
    gloo = group._explain("step_job", RuntimeError("Connection closed by peer [127.0.0.1]:123"))
    assert str(gloo) == ("rank 1 on node 0: step_job failed: rank 2 on node 1, rank 3 on node 1 "
                         "stopped answering; Connection closed by peer [127.0.0.1]:123")
    group._beats = types.SimpleNamespace(silent=lambda: [])
    assert group._explain("step_job", barrier) is barrier   # nobody lost: comm's error as it was
