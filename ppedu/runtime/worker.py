"""What runs inside each rank: who am I, which device, a shared clock, and the job loop.

A rank is either a worker spawned by ``ppedu.runtime.cluster.Cluster`` (it loops: receive a job over its
pipe, run it, send the result back) or a process started by ``torchrun`` (``ppedu.runtime.launch``). Jobs
ask this module where they are: ``rank()``, ``world_size()``, ``device()``, ``clock()``; and they
publish what they wait on with ``set_status`` so the driver can name a stuck operation.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import socket
import threading
import time
import traceback
from datetime import timedelta
from typing import Any, Callable

from ppedu.errors import UsageError, check_choice
from ppedu.i18n.messages import _

STATUS_BYTES = 240      # the status text a rank publishes (the driver allocates it: cluster)

# --------------------------------------------------------------------------------------------------
# Per-process state of a rank (set in workers, or by `TorchrunGroup` under torchrun)
# --------------------------------------------------------------------------------------------------
_RANK: dict[str, Any] = {"rank": 0, "world_size": 1, "backend": "gloo", "device": "cpu",
                         "timeout_s": 10.0, "clock_offset": 0.0, "status": None}


def rank() -> int:
    """This process's rank (0 outside a job)."""
    return _RANK["rank"]


def world_size() -> int:
    """Number of ranks in the group (1 outside a job)."""
    return _RANK["world_size"]


def where(rank_: int | None = None) -> str:
    """``rank 2``, or ``rank 2 on node 1`` when the ranks span several nodes (torchrun gives
    each node a contiguous block of ranks, so node = rank // ranks per node)."""
    r = rank() if rank_ is None else rank_
    per_node = _RANK.get("ranks_per_node")
    return _("rank {r} on node {node}").format(r=r, node=r // per_node) if per_node else _("rank {r}").format(r=r)


def backend() -> str:
    """``gloo`` or ``nccl``."""
    return _RANK["backend"]


def device():
    """The torch device this rank computes on: ``cpu`` with gloo, ``cuda:<local rank>`` with NCCL."""
    return _device_named(_RANK["device"])


@functools.lru_cache(maxsize=None)
def _device_named(name: str):
    # cached: the executor asks for the device on every tensor it makes (~3 ms of a 1F1B step
    # at m=8 went to building torch.device objects, by profile)
    import torch
    return torch.device(name)


def op_timeout_s() -> float:
    """Timeout applied to every collective and point-to-point operation, in seconds."""
    return _RANK["timeout_s"]


def clock() -> float:
    """Seconds on a clock shared by all ranks (same host: CLOCK_MONOTONIC; across hosts: aligned to rank 0)."""
    return time.perf_counter() + _RANK["clock_offset"]


def set_status(text: str) -> None:
    """Publish what this rank is doing (e.g. ``recv from rank 1``) so a hang can be explained."""
    status = _RANK["status"]
    if status is not None:
        status.value = text.encode()[:STATUS_BYTES - 1]


def resolve_backend(name: str, size: int) -> str:
    """``auto`` picks NCCL when there are at least ``size`` GPUs, else gloo."""
    check_choice("backend", name, ["auto", "gloo", "nccl"])
    import torch
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if name == "auto":
        return "nccl" if gpus >= size else "gloo"
    if name == "nccl" and gpus < size:
        raise UsageError(_("backend nccl needs one GPU per rank: world_size={size} but {gpus} GPU(s) found").format(
            size=size, gpus=gpus))
    return name


def cpu_cores() -> int:
    """CPU cores this process may use (respects affinity masks, e.g. in containers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --------------------------------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------------------------------
def _exit_with_parent(parent_pid: int) -> None:
    """Kill this worker when its parent (e.g. a restarted Jupyter kernel) is gone: no orphans."""
    def watch():
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.2)
    threading.Thread(target=watch, daemon=True, name="ppedu-parent-watch").start()


def _align_clock() -> None:
    """Ranks on one host share CLOCK_MONOTONIC; ranks on other hosts align to rank 0 after a barrier."""
    import torch.distributed as dist
    dist.barrier()
    mine = (socket.gethostname(), time.perf_counter())
    everyone: list = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    host0, t0 = everyone[0]
    _RANK["clock_offset"] = 0.0 if mine[0] == host0 else t0 - mine[1]


def _init_rank(rank_: int, size: int, backend_: str, timeout_s: float, store=None) -> None:
    import torch
    import torch.distributed as dist
    local = int(os.environ.get("LOCAL_RANK", rank_))
    if backend_ == "nccl":
        torch.cuda.set_device(local)
    _RANK.update(rank=rank_, world_size=size, backend=backend_, timeout_s=timeout_s,
                 device=f"cuda:{local}" if backend_ == "nccl" else "cpu")
    if not dist.is_initialized():
        kwargs = {"store": store, "rank": rank_, "world_size": size} if store is not None else {}
        dist.init_process_group(backend_, timeout=timedelta(seconds=timeout_s), **kwargs)
    _align_clock()


def _resolve(module: str, qualname: str) -> Callable:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def worker_main(rank_: int, size: int, backend_: str, port: int, timeout_s: float, threads: int,
                conn, status, parent_pid: int) -> None:
    """A spawned rank's whole life (``ppedu.runtime.cluster`` starts it): join the group, then run
    jobs from ``conn`` until told to stop."""
    # Ctrl-C, "interrupt kernel" and a kernel shutdown send SIGINT to the whole process group. The
    # driver answers it (Cluster._collect kills the workers); a worker that raised KeyboardInterrupt
    # itself would only print one traceback per rank into the server's terminal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent_pid)
    _RANK["status"] = status
    import torch
    from torch.distributed import TCPStore
    torch.set_num_threads(threads)
    try:
        store = TCPStore("127.0.0.1", port, size + 1, is_master=False, timeout=timedelta(seconds=60))
        _init_rank(rank_, size, backend_, timeout_s, store)
        conn.send(("ready", rank_, None))
    except BaseException:
        conn.send(("error", rank_, traceback.format_exc()))
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if msg[0] == "stop":
            break
        module, qualname, args, kwargs = msg[1:]
        try:
            set_status(_("running"))
            result = _resolve(module, qualname)(*args, **kwargs)
            set_status(_("idle"))
            conn.send(("ok", rank_, result))
        except BaseException as exc:
            set_status(_("raised {error}: {message}").format(error=type(exc).__name__,
                                                             message=str(exc).splitlines()[0] if str(exc) else ""))
            conn.send(("error", rank_, traceback.format_exc()))
    import torch.distributed as dist
    if dist.is_initialized():
        dist.destroy_process_group()


