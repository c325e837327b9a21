"""Where a rank's step goes, by profiler: a cluster job that runs training steps under cProfile
and sorts every function's own time (tottime) into five bins.

  waiting      blocked in a torch.distributed work handle (``Work.wait``): a message not there yet
  messages     setting messages up: isend/irecv calls, headers, our comm wrappers
  compute      torch kernels and autograd's engine (C++ built-ins of torch, ``run_backward``)
  framework    torch's Python around them (nn.Module calls, autograd.Function glue, hooks)
  python       everything else: the executor's own loop and bookkeeping, the interpreter

cProfile adds a few microseconds per Python call, so the ``python`` and ``framework`` bins read
high; the split between bins is what it is for, not their absolute size.
"""

from __future__ import annotations

import cProfile
import pstats

from ppedu.training import executor
from ppedu.training.torch_baseline import torch_step_job

BINS = ("waiting", "messages", "compute", "framework", "python")


def _bin(filename: str, name: str) -> str:
    if "wait" in name and ("Work" in name or "c10d" in name or filename == "~"):
        return "waiting"
    if "ppedu/runtime/comm.py" in filename or "distributed_c10d" in filename or \
            any(k in name for k in ("isend", "irecv", "send", "recv")):
        return "messages"
    if filename == "~":  # C built-ins: torch ops, autograd's engine; a few of Python's own
        return "compute" if ("torch" in name or "run_backward" in name or "method" in name) \
            else "python"
    if "/torch/" in filename:
        return "framework"
    return "python"


def classify(stats: pstats.Stats, top: int = 0) -> dict:
    """Seconds of own time per bin, the total, and the ``top`` functions by own time as
    ``(seconds, bin, "file:function")``."""
    out: dict = dict.fromkeys(BINS, 0.0)
    rows = []
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        where = _bin(filename, name)
        out[where] += tottime
        rows.append((tottime, where, f"{filename.rsplit('/', 1)[-1]}:{name}"))
    out["total"] = sum(out[b] for b in BINS)
    out["top"] = sorted(rows, reverse=True)[:top]
    return out


def profile_step_job(cfg, steps: int = 3, torch_pipelining: bool = False, top: int = 0) -> dict:
    """Run ``steps`` steps of ours (``executor.step_job``) or torch's (``torch_step_job``) on this
    rank under cProfile; the first step is run before profiling (it builds the model)."""
    profiler = cProfile.Profile()
    if torch_pipelining:
        torch_step_job(cfg, steps + 1, profiler=profiler)
    else:
        executor.step_job(cfg, 0)
        profiler.enable()
        for step in range(1, steps + 1):
            executor.step_job(cfg, step)
        profiler.disable()
    return classify(pstats.Stats(profiler), top)
