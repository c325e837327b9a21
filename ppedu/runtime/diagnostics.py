"""Small jobs that exercise the cluster and the links: used by `ppedu doctor` and the tests."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

from ppedu.runtime import comm, worker


@dataclass(frozen=True)
class RankInfo:
    """Who a worker is (``whoami``)."""
    rank: int
    world_size: int
    pid: int
    backend: str
    device: str


@dataclass
class Roundtrip:
    """What ``roundtrip`` returns on each rank: rank 0's echoes, each message's seconds, counters."""
    echoed: list[torch.Tensor]
    seconds: list[float]
    stats: comm.CommStats


def whoami() -> RankInfo:
    """Rank, pid and backend of each worker."""
    return RankInfo(worker.rank(), worker.world_size(), os.getpid(), worker.backend(), str(worker.device()))


def fail_on(rank: int, message: str = "deliberate failure") -> int:
    """Raise on one rank (the others return): the driver must name that rank."""
    if worker.rank() == rank:
        raise ValueError(f"{message} on rank {rank}")
    return worker.rank()


def ring_exchange(seconds_before_send_on: dict | None = None, header: bool = True) -> float:
    """Each rank sends a tensor to its right neighbour and receives from its left one.

    ``seconds_before_send_on`` ({rank: seconds}) makes a rank dawdle, e.g. to be killed mid-job.
    ``header=False``: the payload alone, as the executor's pipeline messages travel.
    """
    r, n = worker.rank(), worker.world_size()
    time.sleep((seconds_before_send_on or {}).get(r, 0.0))
    # gloo completes a send only once the receiver has posted the matching recv, so post the send,
    # then receive, then wait for the send: blocking sends in a ring would deadlock.
    sending = comm.isend_tensor(torch.full((4,), float(r)), (r + 1) % n, header=header)
    received = comm.irecv_tensor((r - 1) % n, shape=(4,), header=header).wait()
    sending.wait()
    return float(received[0])


def roundtrip(tensors: list[torch.Tensor], latency_ms: float = 0.0,
              bandwidth_gbps: float = float("inf"), header: bool = True) -> Roundtrip:
    """Rank 0 sends each tensor to rank 1, which sends it back; returns the echoes and counters.
    ``header=False``: payloads alone, each receive posted with the tensor's shape and dtype."""
    comm.reset_stats()
    comm.set_link_model(latency_ms, bandwidth_gbps)
    echoed, seconds = [], []
    for t in tensors:
        start = worker.clock()
        if worker.rank() in (0, 1):
            peer = 1 - worker.rank()
            incoming = comm.irecv_tensor(peer, shape=t.shape, dtype=t.dtype, header=header)
            if worker.rank() == 0:
                comm.isend_tensor(t, 1, header=header).wait()
                echoed.append(incoming.wait())
            else:
                comm.isend_tensor(incoming.wait(), 0, header=header).wait()
        seconds.append(worker.clock() - start)
    comm.set_link_model()
    return Roundtrip(echoed, seconds, comm.stats())
