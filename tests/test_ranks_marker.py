"""The `ranks` marker cannot rot: a test without it that starts ranks or a subprocess fails (the
guard is in conftest.py), so `pytest -m "not ranks"` (make fast) stays the half that starts nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import UnmarkedRanks
from ppedu.runtime import cluster as cluster_mod


def test_an_unmarked_test_cannot_start_a_cluster():
    with pytest.raises(UnmarkedRanks, match="test_an_unmarked_test_cannot_start_a_cluster starts a process"):
        cluster_mod.Cluster(2)


def test_an_unmarked_test_cannot_start_a_subprocess():
    with pytest.raises(UnmarkedRanks, match="is not marked @pytest.mark.ranks"):
        subprocess.run([sys.executable, "-c", "pass"], check=True)


@pytest.mark.ranks
def test_a_marked_test_can():
    assert subprocess.run([sys.executable, "-c", "pass"], check=True).returncode == 0
