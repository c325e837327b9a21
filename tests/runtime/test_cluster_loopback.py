"""A warm cluster listens on loopback only: nothing of its process tree is reachable from the network."""

from __future__ import annotations

import ipaddress
import os

import psutil
import pytest

from ppedu.runtime import diagnostics

pytestmark = pytest.mark.ranks


def _listening(proc: psutil.Process) -> list[tuple[str, str, int]]:
    found = []
    for p in [proc, *proc.children(recursive=True)]:
        for conn in p.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                found.append((p.name(), conn.laddr.ip, conn.laddr.port))
    return found


def test_warm_cluster_listens_on_loopback_only(cluster2):
    """On the suite's warm cluster (a cluster of its own started the same way cost a start)."""
    group = cluster2
    assert group.run(diagnostics.ring_exchange) == [1.0, 0.0]      # the ranks really talk
    listening = _listening(psutil.Process(os.getpid()))
    assert any(port == group._store.port for _, _, port in listening), listening  # the store is seen
    beyond = [item for item in listening if not ipaddress.ip_address(item[1]).is_loopback]
    assert beyond == [], f"listening beyond loopback: {beyond}"
