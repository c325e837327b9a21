"""torchrun: the same jobs, launched by ``torchrun --nproc-per-node=N -m ppedu.cli train ...``.

Under torchrun every process is already one rank (env:// rendezvous), so there is no warm
cluster to send jobs to: ``TorchrunGroup.run`` executes the job right here on each rank and
gathers the results, with the same API as ``Cluster.run``. ``ppedu.runtime.cluster.connect`` picks one.
"""

from __future__ import annotations

import os
from typing import Callable

from ppedu.runtime.worker import _init_rank, cpu_cores, resolve_backend


def launched_by_torchrun() -> bool:
    """True when this process is one rank of a torchrun launch (env:// rendezvous is set)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or ("RANK" in os.environ and "MASTER_ADDR" in os.environ)


class TorchrunGroup:
    """The current process is one rank of a torchrun job: `run` executes the job here and gathers."""

    def __init__(self, backend: str = "auto", timeout_s: float = 60.0):
        size = int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_WORLD_SIZE", size))
        self.world_size, self.rank = size, int(os.environ["RANK"])
        self.backend = resolve_backend(backend, local) if backend == "auto" else backend
        self.oversubscribed = self.backend == "gloo" and local > cpu_cores()
        self.is_driver = self.rank == 0
        _init_rank(self.rank, size, self.backend, timeout_s)

    def run(self, fn: Callable, *args, timeout: float | None = None, **kwargs) -> list:
        import torch.distributed as dist
        result = fn(*args, **kwargs)
        everyone: list = [None] * self.world_size
        dist.all_gather_object(everyone, result)
        return everyone

    def close(self) -> None:
        import torch.distributed as dist
        if dist.is_initialized():
            dist.destroy_process_group()
