"""The ``stage`` a student's ``train_step(stage)`` drives: ppedu's ``Stage`` (``ppedu.training.stage``,
the one ``ppedu train`` runs, with its six calls) plus the lab's checks. Each call is checked
(``StageMisuse``: a micro-batch out of range, a call made twice, backward before forward, a send
of no tensor or of the wrong shape); where each tensor came from is tracked, so passing on the
wrong one is a note ("the gradient you received, not the one backward returned"); a receive (or a
send nobody takes) gives up after ``deadlock_s`` (``StageStuck``) and says what it waited for.
Receives are posted when asked for, in a process group of this attempt's own (``ppedu.lab.job``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import torch

from ppedu.errors import ClusterError, check_float
from ppedu.i18n.messages import N_, _
from ppedu.runtime import comm, worker
from ppedu.schedules.timeline import Event
from ppedu.training import stage as base
from ppedu.training.config import RunSpec
from ppedu.training.workloads import make_work

_ABANDONED: list = []  # handles of timed-out messages: kept alive, gloo may still write into them


@dataclass
class LabSpec(RunSpec):
    """One lab run, built on the driver (``grader.measure``) and shipped to every rank.
    ``schedule`` only places the stages (Megatron's loop); the student's loop runs its own order."""
    schedule: str = "gpipe"
    p: int = 2
    m: int = 4
    workload: str = "model"
    tf_ms: float = 10.0           # timed workload: forward of a rank's whole share of the model
    seq_len: int = 16             # (tb_ms: its backward; a chunk costs 1/v of each)
    n_embd: int = 32
    n_head: int = 2
    deadlock_s: float = 6.0       # a receive (or a send nobody takes) waiting longer is a deadlock

    # A student's loop on the warm gloo cluster, answered in seconds: at least two ranks (something
    # to send), a laptop's worth of them, and micro-batches and chunks a learner can still follow.
    LIMITS = {"p": (2, 8), "m": (1, 64), "v": (1, 4)}

    def __post_init__(self):
        self.deadlock_s = check_float("deadlock_s", self.deadlock_s, 0.5, 60.0)
        super().__post_init__()


class StageStuck(Exception):
    """A receive or a send waited longer than ``deadlock_s``; ``waiting`` says on what."""

    def __init__(self, waiting: str, call: tuple, waited_s: float):
        super().__init__(waiting)
        self.waiting, self.call = waiting, call  # call = (name, mb, chunk, peer rank)
        self.waited_s = waited_s                 # short when the peer left the group early


class StageMisuse(Exception):
    """The student called the stage in a way that cannot work (the message says how to fix it)."""


def call_name(name: str, mb: int, chunk: int = 0, chunks: int = 1) -> str:
    """``recv_backward(0)``; with several chunks per rank always ``forward(2, chunk=0)``."""
    return f"{name}({mb}" + (f", chunk={chunk})" if chunk or chunks > 1 else ")")


def _mixed_up(got: tuple, want: tuple, got_call: str) -> str:
    """What a tensor from call ``got`` instead of call ``want`` means, in the learner's words:
    "the gradient you received (recv_backward(0) returned), not the one backward returned"."""
    what = {"recv_backward": N_("the gradient you received"), "backward": N_("a gradient backward computed"),
            "recv_forward": N_("the activations you received"), "forward": N_("an output forward computed")}
    if got[0] != want[0]:
        return _(PASSED_ON).format(what=_(what[got[0]]), call=got_call, producer=want[0])
    if got[1] != want[1]:
        return _("the tensor {call} returned: micro-batches {a} and {b} are mixed up").format(
            call=got_call, a=got[1], b=want[1])
    return _("the tensor {call} returned: chunk {a} and chunk {b} are mixed up").format(
        call=got_call, a=got[2], b=want[2])


# a note saying the wrong tensor was passed on (the grader's gradient check then says less)
PASSED_ON = N_("{what} ({call} returned), not the one {producer} returned: pass on what {producer} returns")


def is_passed_on(note: str) -> bool:
    """Whether ``note`` is a PASSED_ON note, in the current language: it holds the message's
    longest piece of fixed text."""
    return max(re.split(r"\{[^}]*\}", _(PASSED_ON)), key=len) in note


class Stage(base.Stage):
    """ppedu's Stage, every call checked (see the module docstring)."""

    def __init__(self, spec: LabSpec, rank: int, group=None):
        super().__init__(spec, rank, make_work(spec, rank, torch.device("cpu")), group)
        self.calls: list[tuple] = []        # (call, mb, chunk) in the order they were made
        self.notes: list[str] = []          # suspicious pairings, first one first
        self._done: set[tuple[str, int, int]] = set()
        self._origin: dict[int, tuple] = {}  # id(tensor) -> (tensor, call that produced it)

    # -- the six calls, checked --------------------------------------------------------------------
    def recv_forward(self, mb: int, chunk: int = 0) -> torch.Tensor | None:
        self._check("recv_forward", mb, chunk)
        return super().recv_forward(mb, chunk)

    def recv_backward(self, mb: int, chunk: int = 0) -> torch.Tensor | None:
        self._check("recv_backward", mb, chunk)
        return super().recv_backward(mb, chunk)

    def send_forward(self, mb: int, y: torch.Tensor, chunk: int = 0) -> None:
        self._check("send_forward", mb, chunk)
        self._expect_origin("send_forward", mb, chunk, y, "forward")
        super().send_forward(mb, y, chunk)

    def send_backward(self, mb: int, g: torch.Tensor | None, chunk: int = 0) -> None:
        s = self._check("send_backward", mb, chunk)
        if s > 0:
            self._expect_origin("send_backward", mb, chunk, g, "backward")
        super().send_backward(mb, g, chunk)

    def forward(self, mb: int, x: torch.Tensor | None, chunk: int = 0) -> torch.Tensor:
        if self._check("forward", mb, chunk, once=True) > 0:
            self._expect_origin("forward", mb, chunk, x, "recv_forward")
        return self._returned(super().forward(mb, x, chunk), ("forward", mb, chunk))

    def backward(self, mb: int, grad: torch.Tensor | None, chunk: int = 0) -> torch.Tensor | None:
        s = self._check("backward", mb, chunk, once=True)
        if (chunk, mb) not in self.saved:
            raise StageMisuse(_("rank {rank}: {call} before {forward}: backward needs the activations forward "
                                "saved").format(rank=self.rank, call=self._name("backward", mb, chunk),
                                                forward=self._name("forward", mb, chunk)))
        if s < self.spec.num_stages - 1:
            self._expect_origin("backward", mb, chunk, grad, "recv_backward")
        elif grad is not None:
            self._note(_("rank {rank}: {call} on the last stage was given a gradient, so the stage's own 1/m "
                         "scaling of the loss was skipped (pass None)").format(
                rank=self.rank, call=self._name("backward", mb, chunk)))
        grad_in = super().backward(mb, grad, chunk)
        return None if grad_in is None else self._returned(grad_in, ("backward", mb, chunk))

    def finish(self) -> None:
        """Wait until every message this rank sent has been received (or report the first that was not)."""
        start = time.monotonic()
        deadline = start + self.spec.deadlock_s
        for handle, what, peer in self.sends:
            try:
                handle.wait(timeout_s=max(0.1, deadline - time.monotonic()))
            except ClusterError:
                _ABANDONED.extend(h for h, _, _ in self.sends)
                raise StageStuck(_("{call} to rank {peer} (not received)").format(call=self._name(*what), peer=peer),
                                 (*what, peer), time.monotonic() - start) from None
        self.sends.clear()

    # -- checks ------------------------------------------------------------------------------------
    def _check(self, name: str, mb, chunk, once: bool = False) -> int:
        m, v = self.spec.m, self.spec.v
        if not isinstance(mb, int) or isinstance(mb, bool) or not 0 <= mb < m:
            where = f", chunk={chunk!r}" if v > 1 else ""
            raise StageMisuse(_("rank {rank}: {call}: mb must be an integer in 0..{hi}").format(
                rank=self.rank, call=f"{name}(mb={mb!r}{where})", hi=m - 1))
        if not isinstance(chunk, int) or not 0 <= chunk < v:
            raise StageMisuse(_("rank {rank}: {call}: chunk must be an integer in 0..{hi}").format(
                rank=self.rank, call=f"{name}(..., chunk={chunk!r})", hi=v - 1))
        if once:
            if (name, mb, chunk) in self._done:
                raise StageMisuse(_("rank {rank}: {call} called twice (each micro-batch goes forward and backward "
                                    "once per step)").format(rank=self.rank, call=self._name(name, mb, chunk)))
            self._done.add((name, mb, chunk))
        self.calls.append((name, mb, chunk))
        return self._route[chunk][0]

    def _recv(self, name: str, mb: int, chunk: int, src: int, tag: int) -> torch.Tensor:
        return self._returned(super()._recv(name, mb, chunk, src, tag), (name, mb, chunk))

    def _receive(self, name: str, mb: int, chunk: int, src: int, tag: int) -> torch.Tensor:
        """Posted now, waited at most ``deadlock_s``: past that the rank is stuck, and says on what."""
        waited = time.monotonic()
        worker.set_status(_("waits in {call} from rank {src}").format(call=self._name(name, mb, chunk), src=src))
        handle = None
        try:  # posting fails too when the sender already finished and closed the connection
            handle = comm.irecv_tensor(src, tag, self.spec.activation_shape(), group=self.group)
            return handle.wait(timeout_s=self.spec.deadlock_s)
        except ClusterError:
            if handle is not None:
                _ABANDONED.append(handle)
            raise StageStuck(_("{call} from rank {src}").format(call=self._name(name, mb, chunk), src=src),
                             (name, mb, chunk, src),
                             time.monotonic() - waited) from None

    def _send(self, name: str, mb: int, chunk: int, t, dst: int, tag: int) -> None:
        if not isinstance(t, torch.Tensor):
            raise StageMisuse(_("rank {rank}: {call} needs a tensor (got {type}); send what forward/backward "
                                "returned").format(rank=self.rank, call=self._name(name, mb, chunk),
                                                   type=type(t).__name__))
        if tuple(t.shape) != self.spec.activation_shape():
            raise StageMisuse(_("rank {rank}: {call} got a tensor of shape {shape}; the neighbour expects {want}: "
                                "send what forward/backward returned").format(
                rank=self.rank, call=self._name(name, mb, chunk), shape=tuple(t.shape),
                want=self.spec.activation_shape()))
        start = worker.clock()
        super()._send(name, mb, chunk, t, dst, tag)
        self.events.append(Event(self.rank, "send", mb, chunk, start, worker.clock()))

    def _returned(self, t: torch.Tensor, origin: tuple) -> torch.Tensor:
        self._origin[id(t)] = (t, origin)  # the tensor is kept so that its id is never reused
        return t

    def _expect_origin(self, name: str, mb: int, chunk: int, t, producer: str) -> None:
        if t is None:
            raise StageMisuse(_("rank {rank}: {call} got None; pass the tensor {producer} returned").format(
                rank=self.rank, call=self._name(name, mb, chunk), producer=self._name(producer, mb, chunk)))
        origin = self._origin.get(id(t), (None, None))[1]
        if origin is not None and origin != (producer, mb, chunk):
            self._note(_("rank {rank}: {call} was given {what}").format(
                rank=self.rank, call=self._name(name, mb, chunk),
                what=_mixed_up(origin, (producer, mb, chunk), self._name(*origin))))

    def _name(self, name: str, mb: int, chunk: int = 0) -> str:
        return call_name(name, mb, chunk, self.spec.v)

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
