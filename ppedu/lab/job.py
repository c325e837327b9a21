"""The cluster job of the lab: run a student's ``train_step(stage)`` on this rank, never raise.

The function arrives by value (cloudpickle bytes): spawned workers cannot import a function that
was defined in a notebook, and cloudpickle serialises its code and the globals it uses. Whatever the
function does (returns, raises, waits forever on a message), the job returns a report: so the
driver can explain the failure and the warm cluster survives it.

Each attempt gets a fresh process group. A gloo operation that times out closes its connection
("Application timeout caused pair closure"), which would break every later job on the default
group; a group of its own costs ~2 ms and is simply abandoned when an attempt deadlocked.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from datetime import timedelta

import cloudpickle
import torch
import torch.distributed as dist

from ppedu.i18n.messages import _
from ppedu.lab.stage import LabSpec, Stage, StageMisuse, StageStuck
from ppedu.runtime import comm, worker
from ppedu.schedules.timeline import Event

_GROUPS: list = []  # groups of attempts that deadlocked: never reused, kept so nothing is freed


@dataclass
class LabReport:
    """What one rank of a lab attempt did (picklable: it crosses the process boundary)."""
    rank: int
    status: str                      # ok, stuck, misuse, raised, unanswered (the stub), idle
    detail: str | None = None        # what went wrong, in the learner's words
    waits_on: tuple | None = None    # stuck: (call, mb, chunk, peer rank)
    waited_s: float = 0.0            # stuck: how long (short when the peer left the group early)
    t0: float = 0.0                  # the step's start on the shared clock
    events: list[Event] = field(default_factory=list)   # compute, receives and sends, shared clock
    calls: list[tuple] = field(default_factory=list)    # (call, mb, chunk) in the order made
    notes: list[str] = field(default_factory=list)      # suspicious pairings (ppedu.lab.stage)
    peak_held: int = 0               # most micro-batches (x chunks) held between forward and backward
    gradients: dict = field(default_factory=dict)       # parameter name -> gradient (status ok)


def lab_job(fn_bytes: bytes, spec: LabSpec) -> LabReport:
    """Run the student's step on this rank and say what happened (a ``LabReport``). Ranks from
    ``spec.p`` on (a cluster larger than the attempt) only take part in the collectives and
    report ``idle``."""
    rank = worker.rank()
    torch.manual_seed(spec.seed)
    group = dist.new_group(backend="gloo", timeout=timedelta(seconds=spec.deadlock_s + 5))
    if rank >= spec.p:  # a larger warm cluster runs a p-rank attempt on its first p ranks
        comm.barrier()
        dist.destroy_process_group(group)
        return LabReport(rank, "idle")
    stage = Stage(spec, rank, group)
    comm.barrier()  # on the default group: nothing of the student's has run yet, so it cannot time out
    t0 = worker.clock()
    status, detail, waits_on, waited_s = "ok", None, None, 0.0
    try:
        train_step = cloudpickle.loads(fn_bytes)
        train_step(stage)
        stage.finish()
    except StageStuck as exc:
        status, detail, waits_on, waited_s = "stuck", exc.waiting, exc.call, exc.waited_s
    except StageMisuse as exc:
        status, detail = "misuse", f"{exc}{_student_line(exc)}"
    except NotImplementedError as exc:  # the student copy's stub (NotAnswered is one too)
        status, detail = "unanswered", f"{type(exc).__name__}{_student_line(exc)}"
    except BaseException as exc:  # noqa: BLE001 - a student's bug of any kind is reported, not raised
        first = str(exc).splitlines()[0] if str(exc) else ""
        status, detail = "raised", f"{type(exc).__name__}: {first}{_student_line(exc)}"
    worker.set_status(f"lab: {status}")
    if status == "ok":
        dist.destroy_process_group(group)
    else:
        _GROUPS.append(group)
    return LabReport(rank, status, detail, waits_on, waited_s, t0, stage.events, stage.calls, stage.notes,
                     stage.peak_held, stage.gradients() if status == "ok" else {})


def _student_line(exc: BaseException) -> str:
    """`` (line 7 of your code: g = stage.recv_backward(mb))``: the last frame outside ppedu."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/ppedu/" not in f.filename.replace("\\", "/")]
    if not frames:
        return ""
    frame = frames[-1]
    code = f": {frame.line.strip()}" if frame.line else ""
    return " " + _("(line {n} of {function}{code})").format(n=frame.lineno, function=frame.name, code=code)
