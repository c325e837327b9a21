"""torchrun: the same jobs, launched by ``torchrun --nproc-per-node=N -m ppedu.cli train ...``.

Under torchrun every process is already one rank (env:// rendezvous), so there is no warm
cluster to send jobs to: ``TorchrunGroup.run`` executes the job right here on each rank and
gathers the results, with the same API as ``Cluster.run``. ``ppedu.runtime.cluster.connect`` picks one.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from typing import Callable

from ppedu.runtime.worker import (_RANK, _exit_with_parent, _init_rank, cpu_cores, resolve_backend,
                                  where)
from ppedu.errors import ClusterError
from ppedu.i18n.messages import _


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
        # a rank whose launcher was killed must not live on: its peers on the other node would
        # wait for it until the timeout instead of seeing its connections close
        _exit_with_parent(os.getppid())
        if size > local:
            _RANK["ranks_per_node"] = local  # errors then say "rank 2 on node 1"
        _init_rank(self.rank, size, self.backend, timeout_s)
        self._beats = _Heartbeats(self.rank, size) if size > local else None

    def run(self, fn: Callable, *args, timeout: float | None = None, **kwargs) -> list:
        """``fn`` on this rank, everyone's results gathered. A failed collective (a peer gone)
        is a ClusterError naming this rank and node, not a gloo traceback."""
        import torch.distributed as dist
        job = getattr(fn, "__name__", "job")
        try:
            result = fn(*args, **kwargs)
            everyone: list = [None] * self.world_size
            dist.all_gather_object(everyone, result)
        except RuntimeError as exc:  # gloo/NCCL: "Connection closed by peer", timeouts; comm's own
            raise self._explain(job, exc) from None
        return everyone

    def _explain(self, job: str, exc: RuntimeError) -> RuntimeError:
        """The error to raise for a failed job: comm's ClusterError (it names this rank and the
        operation) or gloo's text, prefixed with the ranks the heartbeats say are gone: a
        barrier or a collective cannot say who left (a node killed between two steps)."""
        gone = self._beats.silent() if self._beats is not None else []
        lost = _("{ranks} stopped answering; ").format(ranks=", ".join(where(r) for r in gone)) if gone else ""
        if isinstance(exc, ClusterError):
            return ClusterError(f"{lost}{exc}", rank=exc.rank, job=exc.job) if lost else exc
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        cause = exc.__cause__  # the executor says where in the schedule, then re-raises
        if isinstance(cause, ClusterError) and first.endswith(":"):  # comm's error names the peer
            first = f"{first.rstrip(':')}: {str(cause).splitlines()[0][:400]}"
        return ClusterError(_("{rank}: {job} failed: {lost}{error}").format(rank=where(), job=job, lost=lost, error=first),
                            rank=self.rank, job=job)

    def close(self) -> None:
        import torch.distributed as dist
        if self._beats is not None:
            self._beats.stop()
        if dist.is_initialized():
            dist.destroy_process_group()


class _Heartbeats:
    """Every rank bumps a counter in the rendezvous store (served on node 0) twice a second; after
    a failure, the ranks whose counter stands still are the ones that are gone. Only for several
    nodes, where "Connection closed by peer" from a barrier would name nobody."""

    PERIOD_S = 0.5

    def __init__(self, rank: int, world_size: int):
        import torch.distributed as dist
        self.world_size = world_size
        self.store = dist.distributed_c10d._get_default_store()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(rank,), daemon=True,
                                        name="ppedu-heartbeat")
        self._thread.start()
        atexit.register(self.stop)  # a daemon thread inside a store call at exit may abort

    def _beat(self, rank: int) -> None:
        while not self._stop.is_set():
            try:
                self.store.add(f"ppedu/beat/{rank}", 1)
            except Exception:  # noqa: BLE001 - the store's host is gone: nothing left to tell
                return
            self._stop.wait(self.PERIOD_S)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def silent(self) -> list[int]:
        """Ranks whose counter did not move in four periods ([] if the store is unreachable)."""
        try:
            before = [self.store.add(f"ppedu/beat/{r}", 0) for r in range(self.world_size)]
            time.sleep(4 * self.PERIOD_S)
            after = [self.store.add(f"ppedu/beat/{r}", 0) for r in range(self.world_size)]
        except Exception:  # noqa: BLE001
            return []
        return [r for r in range(self.world_size) if after[r] == before[r]]
