"""Shared fixtures and helpers of the suite (the test files import the helpers from here).

Warm clusters are expensive (~5 s to start), so tests share them per module.
"""

from __future__ import annotations

import textwrap
import time
import warnings

import psutil
import pytest
from hypothesis import HealthCheck, settings

from ppedu.errors import UsageError
from ppedu.runtime import cluster as cluster_mod


_WARM: dict[int, cluster_mod.Cluster] = {}


def _warm_cluster(n: int) -> cluster_mod.Cluster:
    """One warm cluster per size for the whole session (each start costs ~5 s on 2 cores);
    replaced if a test left it closed (a failed job kills its workers on purpose)."""
    c = _WARM.get(n)
    if c is None or c.closed:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the oversubscription warning is expected here
            c = _WARM[n] = cluster_mod.Cluster(n)
    return c


@pytest.fixture(scope="session", autouse=True)
def _close_warm_clusters():
    yield
    for c in _WARM.values():
        c.close()


@pytest.fixture(scope="module")  # module scope so module-scoped fixtures can use it too
def cluster2() -> cluster_mod.Cluster:
    return _warm_cluster(2)


@pytest.fixture(scope="module")
def cluster4() -> cluster_mod.Cluster:
    return _warm_cluster(4)


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """One intra-op thread in the test process: on a shared 2-core machine, 2 spinning OpenMP
    threads per process turn 30 ms steps into 1.5 s ones. Restored afterwards."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def alive(pids: list[int]) -> list[int]:
    """The pids among ``pids`` that still run (zombies count as gone)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def student(source: str):
    """``train_step`` compiled as if typed in a notebook cell: its module is not importable, so it
    travels to the ranks by value (cloudpickle), as a student's does."""
    namespace = {"__name__": "a_students_notebook"}
    exec(compile(textwrap.dedent(source), "<notebook cell>", "exec"), namespace)
    return namespace["train_step"]


# Property-based entry-point tests (hypothesis): every example must answer within BOUND_S, generous
# on a shared 2-core machine; the runaway cases this guards against take minutes.
BOUND_S = 2.0
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def one_line_usage_error(exc: UsageError) -> None:
    text = str(exc)
    assert text and "\n" not in text and len(text) < 400, f"not a one-line error: {text!r}"


def bounded(call):
    """Run ``call``; return its result or the UsageError it raised (one line), within BOUND_S."""
    start = time.perf_counter()
    try:
        out = call()
    except UsageError as exc:
        one_line_usage_error(exc)
        out = exc
    took = time.perf_counter() - start
    assert took < BOUND_S, f"took {took:.2f} s (bound {BOUND_S} s)"
    return out
