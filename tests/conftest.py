"""Shared fixtures: warm clusters are expensive (~5 s to start), so tests share them per module."""

from __future__ import annotations

import warnings

import psutil
import pytest

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
