"""Shared fixtures: warm clusters are expensive (~5 s to start), so tests share them per module."""

from __future__ import annotations

import warnings

import psutil
import pytest

from ppedu import cluster as cluster_mod


def _warm_cluster(n: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the oversubscription warning is expected here
        c = cluster_mod.Cluster(n)
    yield c
    c.close()


@pytest.fixture(scope="module")
def cluster2():
    yield from _warm_cluster(2)


@pytest.fixture(scope="module")
def cluster4():
    yield from _warm_cluster(4)


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
