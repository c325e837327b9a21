"""A warm group of torch.distributed ranks on this machine.

Spawning four Python processes that import torch costs ~10 s on a 2-core laptop, far too slow for a
widget that re-runs on every click. So we start the ranks once, initialise the process group once,
and then ship *jobs* (a module-level function plus arguments) to all ranks over pipes:

    with Cluster(4) as cluster:                 # gloo on CPU, NCCL when there are >= 4 GPUs
        results = cluster.run(some_job, x=1)    # some_job(x=1) on every rank; results[r] from rank r

Failure is loud and fast: a rank that raises, dies or hangs produces a ClusterError naming the rank,
the job and what every rank was waiting on, and all workers are killed (the next `get_cluster` starts
a fresh group). Workers also exit by themselves when the parent process (a Jupyter kernel) dies.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing as mp
import multiprocessing.connection
import os
import sys
import time
from datetime import timedelta
from typing import Callable

from ppedu.errors import ClusterError, UsageError, check_int
from ppedu.i18n.messages import _
# The rank side (a job's rank(), clock(), device(), ...) has one home, ppedu.runtime.worker; this
# module is the driver side and takes from it only what it needs to start the workers.
from ppedu.runtime.worker import STATUS_BYTES, worker_main, cpu_cores, resolve_backend
from ppedu.runtime.launch import TorchrunGroup, launched_by_torchrun
MAX_WORLD_SIZE = 64

# --------------------------------------------------------------------------------------------------
# Driver side
# --------------------------------------------------------------------------------------------------
_warned_oversubscribed = False


def _loopback_store(size: int, timeout_s: float):
    """The rendezvous store of a one-machine cluster, listening on 127.0.0.1 only.

    ``TCPStore("127.0.0.1", 0, ...)`` binds every interface (``*:<port>``): anyone on the network
    could reach the unauthenticated store. Here the socket is bound to loopback first and handed to
    the store (``master_listen_fd``, which then owns it)."""
    import socket

    from torch.distributed import TCPStore
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port, fd = sock.getsockname()[1], os.dup(sock.fileno())
    return TCPStore("127.0.0.1", port, size, is_master=True, wait_for_workers=False,
                    timeout=timedelta(seconds=timeout_s), master_listen_fd=fd)


class Cluster:
    """``world_size`` warm worker processes with ``torch.distributed`` initialised.

    Args:
        world_size: number of ranks (1..64).
        backend: ``auto`` (NCCL with >= world_size GPUs, else gloo), ``gloo`` or ``nccl``.
        timeout_s: timeout of every collective / point-to-point op inside jobs.
        job_timeout_s: a job running longer than this is declared hung and the cluster is killed.
    """

    def __init__(self, world_size: int, backend: str = "auto", timeout_s: float = 10.0,
                 job_timeout_s: float = 600.0, start_timeout_s: float = 180.0):
        global _warned_oversubscribed
        self.world_size = check_int("world_size", world_size, 1, MAX_WORLD_SIZE)
        self.backend = resolve_backend(backend, world_size)
        self.timeout_s, self.job_timeout_s = timeout_s, job_timeout_s
        self.oversubscribed = self.backend == "gloo" and world_size > cpu_cores()
        self.is_driver = True  # the notebook / CLI process prints results (cf. TorchrunGroup)
        if self.oversubscribed and not _warned_oversubscribed:
            _warned_oversubscribed = True
            # One plain line, not warnings.warn: Jupyter draws a warning (and any stderr) as a pink
            # box with a source line, which reads as an error to a newcomer. In a kernel it goes to
            # stdout; on the CLI to stderr, so `--json` stays one JSON object on stdout.
            print(_("note: {n} ranks on {cores} CPU cores: the CPU is oversubscribed, so timings of real-compute "
                    "workloads are distorted (the timed workload still measures bubbles faithfully).").format(
                n=world_size, cores=cpu_cores()), file=sys.stdout if "ipykernel" in sys.modules else sys.stderr,
                  flush=True)
        self._store = _loopback_store(world_size + 1, start_timeout_s)
        ctx = mp.get_context("spawn")
        threads = max(1, cpu_cores() // world_size)
        self._status = [ctx.Array("c", STATUS_BYTES, lock=False) for _ in range(world_size)]
        self._conns, self._procs = [], []
        self.closed = False
        for r in range(world_size):
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=worker_main, name=f"ppedu-rank{r}", daemon=True,
                               args=(r, world_size, self.backend, self._store.port, timeout_s, threads,
                                     child_end, self._status[r], os.getpid()))
            with _main_module_hidden():
                proc.start()
            child_end.close()
            self._conns.append(parent_end)
            self._procs.append(proc)
        _LIVE.add(self)
        self._collect("start-up", start_timeout_s)

    # -- public API ---------------------------------------------------------------------------------
    def run(self, fn: Callable, *args, timeout: float | None = None, **kwargs) -> list:
        """Run ``fn(*args, **kwargs)`` on every rank; return the per-rank results (index = rank)."""
        if self.closed:
            raise ClusterError(_("this cluster is closed (a previous job failed or close() was called); "
                                 "use ppedu.runtime.cluster.get_cluster(n) for a fresh one"))
        module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
        if module in (None, "__main__") or "<" in qualname:
            raise UsageError(_("job {job} must be a module-level function in an importable module (spawned workers "
                               "cannot import functions defined in a notebook)").format(job=qualname or repr(fn)))
        job = f"{module}.{qualname}"
        try:
            for conn in self._conns:
                conn.send(("job", module, qualname, args, kwargs))
        except KeyboardInterrupt:  # some ranks got the job, others not: they would wait forever
            self._kill()
            raise
        return self._collect(job, timeout or self.job_timeout_s)

    def close(self) -> None:
        """Stop the workers politely, then kill any that do not exit within 5 s."""
        if self.closed:
            return
        self.closed = True
        for conn in self._conns:
            try:
                conn.send(("stop",))
            except (OSError, BrokenPipeError):
                pass
        deadline = time.monotonic() + 5
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        self._kill()

    def pids(self) -> list[int]:
        """Process ids of the workers (for tests and for the curious)."""
        return [p.pid for p in self._procs]

    def statuses(self) -> list[str]:
        """What each rank last said it was doing."""
        return [s.value.decode(errors="replace") or _("starting") for s in self._status]

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "warm"
        return f"Cluster(world_size={self.world_size}, backend={self.backend!r}, {state})"

    # -- internals ----------------------------------------------------------------------------------
    def _collect(self, job: str, timeout: float) -> list:
        results: list = [None] * self.world_size
        pending = set(range(self.world_size))
        deadline = time.monotonic() + timeout
        try:
            while pending:
                waitables = {self._conns[r]: r for r in pending}
                waitables.update({self._procs[r].sentinel: r for r in pending})
                left = deadline - time.monotonic()
                if left <= 0:
                    self._fail(job, None, _("job {job} hung: no answer after {timeout:.0f} s from rank(s) {ranks}").format(
                        job=job, timeout=timeout, ranks=sorted(pending)))
                for obj in multiprocessing.connection.wait(list(waitables), timeout=min(left, 0.5)):
                    r = waitables[obj]
                    if r not in pending:
                        continue
                    if obj is self._procs[r].sentinel and not self._conns[r].poll():
                        self._procs[r].join(0.1)
                        self._fail(job, r, _("rank {r} died (exit code {code}) during {job}").format(
                            r=r, code=self._procs[r].exitcode, job=job))
                    try:
                        kind, _job, payload = self._conns[r].recv()
                    except (EOFError, OSError):
                        self._fail(job, r, _("rank {r} closed its pipe during {job} (it died)").format(r=r, job=job))
                    if kind == "error":
                        self._fail(job, r, _("{job} raised on rank {r}: {error}").format(
                            job=job, r=r, error=_last_line(payload)), payload)
                    results[r] = payload
                    pending.discard(r)
        except KeyboardInterrupt:
            self._kill()
            raise
        return results

    def _fail(self, job: str, rank_: int | None, message: str, remote_tb: str | None = None):
        time.sleep(0.2)  # let the other ranks publish what they are blocked on
        waiting = "\n".join("  " + _("rank {r}: {status}").format(r=r, status=s) for r, s in enumerate(self.statuses()))
        self._kill()
        text = message + "\n" + _("what each rank was doing:") + "\n" + waiting
        if remote_tb:
            text += "\n" + _("--- remote traceback (rank {r}) ---").format(r=rank_) + "\n" + remote_tb.rstrip()
        raise ClusterError(text + "\n" + _("All workers were stopped; the next get_cluster() starts fresh ones."),
                           rank=rank_, job=job, remote_traceback=remote_tb)

    def _kill(self) -> None:
        self.closed = True
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
        for proc in self._procs:
            proc.join(2)
        for conn in self._conns:
            conn.close()
        _LIVE.discard(self)


@contextlib.contextmanager
def _main_module_hidden():
    """Spawned workers would re-run the parent's ``__main__`` script (an unguarded script would then
    start clusters recursively); jobs live in ``ppedu``, so hide ``__main__`` while starting them."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main and k in main.__dict__}
    try:
        for k in saved:
            setattr(main, k, None) if k == "__spec__" else delattr(main, k)
        yield
    finally:
        for k, v in saved.items():
            setattr(main, k, v)


def _last_line(tb: str) -> str:
    lines = [ln for ln in tb.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else _("unknown error")


_LIVE: set[Cluster] = set()
_CACHED: dict[tuple[int, str], Cluster] = {}


def get_cluster(world_size: int, backend: str = "auto", **kwargs) -> Cluster:
    """A warm cluster of this size, reused across calls (a notebook re-run answers in ~1 s).

    Only one cluster is kept: asking for another size closes the old one first, so a 2-core laptop
    never runs two groups at once.
    """
    key = (world_size, resolve_backend(backend, world_size))
    cached = _CACHED.get(key)
    if cached is not None and not cached.closed and all(p.is_alive() for p in cached._procs):
        return cached
    for other in _CACHED.values():  # clusters made directly with Cluster(...) are left alone
        other.close()
    _CACHED.clear()
    _CACHED[key] = Cluster(world_size, key[1], **kwargs)
    return _CACHED[key]


def shutdown() -> None:
    """Close every cluster this process started."""
    _CACHED.clear()
    for cluster in list(_LIVE):
        cluster.close()


atexit.register(shutdown)


def connect(world_size: int, backend: str = "auto", **kwargs):
    """The torchrun group when launched by torchrun (its size must match), else a warm local Cluster."""
    if launched_by_torchrun():
        group = TorchrunGroup(backend)
        if group.world_size != world_size:
            raise UsageError(_("-p {p} does not match torchrun's WORLD_SIZE={n}").format(p=world_size, n=group.world_size))
        return group
    return get_cluster(world_size, backend, **kwargs)
