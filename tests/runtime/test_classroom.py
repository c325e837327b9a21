"""The warm cluster under a classroom's habits.

* A student presses "interrupt kernel" while a run is on the ranks: the KeyboardInterrupt reaches
  the driver mid-step. The next run must work (here: a fresh group, gradients still equal the
  single-process model's) and the interrupted ranks must be gone, not left computing.
* Four ranks with the notebooks' settings must fit a 2 GB Binder beside JupyterLab.
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import threading
import time
import warnings

import psutil
import pytest

from ppedu.runtime import cluster as cluster_mod
from ppedu.training.engine import train
from conftest import alive

pytestmark = pytest.mark.ranks

# Memory budget for the four ranks, in MiB of PSS (proportional set size: a page shared by the
# four ranks, such as torch's libraries, counts a quarter in each, so the sum is what the ranks
# add to the machine). A Binder pod is limited to 2048 MiB for everything; we leave
#   ~250 MiB for the JupyterLab server (jupyter-server + extensions, measured 150-220 MiB),
#   ~450 MiB for the notebook kernel (torch, plotly, ipywidgets imported; ~300-400 MiB),
#   ~150 MiB headroom (outputs, a second notebook tab's kernel starting, allocator slack),
# which leaves 2048 - 250 - 450 - 150 = 1200 MiB for the ranks. Measured on this machine
# (torch 2.13 CPU, gloo): ~625 MiB idle, ~940 MiB after the model workload at p=4, m=16.
RANKS_BUDGET_MIB = 1200


def _interrupt_after(seconds: float) -> threading.Timer:
    """Deliver a KeyboardInterrupt to the main thread, as Jupyter's interrupt button does."""
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


@contextlib.contextmanager
def _as_in_a_kernel_cell():
    """SIGINT raises KeyboardInterrupt, as ipykernel sets it while a cell runs (its
    ``pre_handler_hook``). Whatever an earlier test left (nbclient's asyncio no-op handler after a
    stopped notebook run) would make ``interrupt_main`` do nothing, and the run would not stop."""
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, saved)


def test_an_interrupted_run_leaves_the_next_run_working():
    """On the panels' cluster (``get_cluster``), so that its next Run is what a class sees."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        group = cluster_mod.get_cluster(2)
        train(schedule="1f1b", p=2, m=2, tf_ms=5, tb_ms=5, group=group)  # warm, as in class
        old = group.pids()
        with _as_in_a_kernel_cell():
            timer = _interrupt_after(1.0)
            try:
                with pytest.raises(KeyboardInterrupt) as interrupted:
                    # 200 steps of ~60 ms: the interrupt lands while a step runs on the ranks
                    train(schedule="1f1b", p=2, m=4, tf_ms=10, tb_ms=10, steps=200, group=group)
            finally:
                timer.cancel()
        where = {entry.name for entry in interrupted.traceback}
        assert where & {"_collect", "run"} and group.closed, \
            f"the interrupt did not land in a job on the ranks (it reached {sorted(where)})"
        deadline = time.monotonic() + 10
        while alive(old) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(old), "the interrupted ranks are still running"
        fresh = cluster_mod.get_cluster(2)  # what the panel's next Run does
        try:
            assert fresh is not group and not set(fresh.pids()) & set(old), "no fresh group"
            result = train(schedule="1f1b", p=2, m=2, workload="model", check_grads=True,
                           group=fresh)
            assert result.grad_max_abs_diff < 1e-5
        finally:
            fresh.close()


def _pss_mib(pid: int) -> float:
    """PSS where the kernel reports it (Linux), else USS, else RSS (an overestimate)."""
    info = psutil.Process(pid).memory_full_info()
    return getattr(info, "pss", None) or getattr(info, "uss", None) or info.rss


def test_four_ranks_fit_a_binder_beside_jupyterlab(cluster4):
    """On the suite's warm 4-rank cluster, after whatever ran on it before, as in a class."""
    # the notebooks' heaviest run at p=4: real compute with GPipe holding 16 micro-batches,
    # then the timed workload the panels use by default
    train(schedule="gpipe", p=4, m=16, workload="model", group=cluster4)
    train(schedule="1f1b", p=4, m=8, tf_ms=5, tb_ms=5, group=cluster4)
    total = sum(_pss_mib(pid) for pid in cluster4.pids()) / 2 ** 20
    print(f"four ranks: {total:.0f} MiB PSS (budget {RANKS_BUDGET_MIB})")
    assert total <= RANKS_BUDGET_MIB, \
        f"four ranks hold {total:.0f} MiB (PSS), over the {RANKS_BUDGET_MIB} MiB budget"
