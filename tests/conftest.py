"""Shared fixtures: warm clusters are expensive (~5 s to start), so tests share them per module."""

from __future__ import annotations

import warnings

import psutil
import pytest

from ppedu import cluster as cluster_mod


@pytest.fixture(scope="module")
def cluster2():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = cluster_mod.Cluster(2)
    yield c
    c.close()


@pytest.fixture(scope="module")
def cluster4():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = cluster_mod.Cluster(4)
    yield c
    c.close()


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
