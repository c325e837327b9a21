"""The ``stage`` object a student's ``train_step(stage)`` drives, on one real rank.

Six calls, each recorded on the shared clock (``ppedu.runtime.worker.clock``) as a timeline event:

    recv_forward(mb, chunk=0) -> x      send_forward(mb, y, chunk=0)      forward(mb, x, chunk=0) -> y
    recv_backward(mb, chunk=0) -> g     send_backward(mb, g, chunk=0)     backward(mb, g, chunk=0) -> g_in

Receives block (through ``ppedu.runtime.comm``, in a process group made for this attempt only) and
give up after ``deadlock_s``: the rank then reports what it was waiting for instead of hanging.
Sends return at once; ``finish()`` waits for them at the end of the step. Each message is tagged
with (sending virtual stage, micro-batch, direction), so a receive only matches the send of the
same micro-batch: a mislabelled message shows up as a named wait, never as silently wrong data.
On the first stage ``recv_forward`` returns None, on the last ``send_forward`` does nothing (and so
for backward), which is what lets one loop serve every rank, as in picotron.
"""

from __future__ import annotations

import time

import torch

from ppedu.errors import ClusterError
from ppedu.lab.workloads import LabSpec, make_work
from ppedu.runtime import comm, worker

_ABANDONED: list = []  # handles of timed-out messages: kept alive, gloo may still write into them


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
    what = {"recv_backward": "the gradient you received", "backward": "a gradient backward computed",
            "recv_forward": "the activations you received", "forward": "an output forward computed"}
    if got[0] != want[0]:
        return f"{what[got[0]]} ({got_call} returned), not the one {want[0]} returned: pass on what {want[0]} returns"
    if got[1] != want[1]:
        return f"the tensor {got_call} returned: micro-batches {got[1]} and {want[1]} are mixed up"
    return f"the tensor {got_call} returned: chunk {got[2]} and chunk {want[2]} are mixed up"


class Stage:
    """One rank's view of the pipeline (see the module docstring for the six calls)."""

    def __init__(self, spec: LabSpec, rank: int, group=None):
        self.spec, self._rank, self._group = spec, rank, group
        self._work = make_work(spec, rank)
        self.events: list[tuple] = []       # (call, mb, chunk, start, end) on the shared clock
        self.calls: list[tuple] = []        # (call, mb, chunk) in the order they were made
        self.notes: list[str] = []          # suspicious pairings, first one first
        self._saved: dict[tuple[int, int], tuple] = {}   # (chunk, mb) -> (out, inp) for backward
        self._done: set[tuple[str, int, int]] = set()
        self._origin: dict[int, tuple] = {}  # id(tensor) -> (tensor, call that produced it)
        self._sends: list[tuple] = []        # (handle, what) waited in finish()
        self.held = self.peak_held = 0
        self.loss_sum = 0.0

    # -- who am I ----------------------------------------------------------------------------------
    rank = property(lambda self: self._rank, doc="this rank (0 .. world_size - 1)")
    world_size = property(lambda self: self.spec.p, doc="number of ranks p")
    num_microbatches = property(lambda self: self.spec.m, doc="micro-batches per step m")
    num_chunks = property(lambda self: self.spec.v, doc="model chunks per rank v (interleaving)")
    is_first = property(lambda self: self._rank == 0, doc="rank 0: reads the batch")
    is_last = property(lambda self: self._rank == self.spec.p - 1, doc="last rank: computes the loss")

    # -- messages ----------------------------------------------------------------------------------
    def recv_forward(self, mb: int, chunk: int = 0) -> torch.Tensor | None:
        """Activations of micro-batch ``mb`` from the previous stage (None on the first stage)."""
        s = self._check("recv_forward", mb, chunk)
        return None if s == 0 else self._recv("recv_forward", mb, chunk, s - 1, False)

    def recv_backward(self, mb: int, chunk: int = 0) -> torch.Tensor | None:
        """Gradient of this stage's output for ``mb`` from the next stage (None on the last)."""
        s = self._check("recv_backward", mb, chunk)
        return None if s == self.spec.num_stages - 1 else self._recv("recv_backward", mb, chunk, s + 1, True)

    def send_forward(self, mb: int, y: torch.Tensor, chunk: int = 0) -> None:
        """Send ``forward``'s output of ``mb`` to the next stage (nothing on the last stage)."""
        s = self._check("send_forward", mb, chunk)
        self._expect_origin("send_forward", mb, chunk, y, "forward")
        if s < self.spec.num_stages - 1:
            self._send("send_forward", mb, chunk, y, s + 1, comm.pipeline_tag(s, mb, False))

    def send_backward(self, mb: int, g: torch.Tensor | None, chunk: int = 0) -> None:
        """Send ``backward``'s input gradient of ``mb`` to the previous stage (nothing on the first)."""
        s = self._check("send_backward", mb, chunk)
        if s > 0:
            self._expect_origin("send_backward", mb, chunk, g, "backward")
            self._send("send_backward", mb, chunk, g, s - 1, comm.pipeline_tag(s, mb, True))

    # -- compute -----------------------------------------------------------------------------------
    def forward(self, mb: int, x: torch.Tensor | None, chunk: int = 0) -> torch.Tensor:
        """This stage's layers on micro-batch ``mb``; the last stage returns the loss."""
        s = self._check("forward", mb, chunk, once=True)
        if s > 0:
            self._expect_origin("forward", mb, chunk, x, "recv_forward")
        start = worker.clock()
        out, inp = self._work.forward(s, mb, x)
        self._record("forward", mb, chunk, start)
        self._saved[(chunk, mb)] = (out, inp)
        self.held += 1
        self.peak_held = max(self.peak_held, self.held)
        if s == self.spec.num_stages - 1:
            self.loss_sum += float(out.detach())
        return self._returned(out.detach(), ("forward", mb, chunk))

    def backward(self, mb: int, grad: torch.Tensor | None, chunk: int = 0) -> torch.Tensor | None:
        """Backward of ``mb`` through this stage; returns the input gradient (None on the first)."""
        s = self._check("backward", mb, chunk, once=True)
        if (chunk, mb) not in self._saved:
            raise StageMisuse(f"rank {self.rank}: {self._name('backward', mb, chunk)} before "
                              f"{self._name('forward', mb, chunk)}: backward needs the activations forward saved")
        if s < self.spec.num_stages - 1:
            self._expect_origin("backward", mb, chunk, grad, "recv_backward")
        elif grad is not None:
            self._note(f"rank {self.rank}: {self._name('backward', mb, chunk)} on the last stage was given "
                       "a gradient, so the stage's own 1/m scaling of the loss was skipped (pass None)")
        out, inp = self._saved.pop((chunk, mb))
        start = worker.clock()
        grad_in = self._work.backward(s, out, inp, grad)
        self._record("backward", mb, chunk, start)
        self.held -= 1
        return None if grad_in is None else self._returned(grad_in, ("backward", mb, chunk))

    def finish(self) -> None:
        """Wait until every message this rank sent has been received (or report the first that was not)."""
        start = time.monotonic()
        deadline = start + self.spec.deadlock_s
        for handle, what, peer in self._sends:
            try:
                handle.wait(timeout_s=max(0.1, deadline - time.monotonic()))
            except ClusterError:
                _ABANDONED.extend(h for h, _, _ in self._sends)
                raise StageStuck(f"{self._name(*what)} to rank {peer} (not received)",
                                 (*what, peer), time.monotonic() - start) from None
        self._sends.clear()

    def gradients(self) -> dict[str, torch.Tensor]:
        return self._work.gradients()

    # -- internals ---------------------------------------------------------------------------------
    def _check(self, name: str, mb, chunk, once: bool = False) -> int:
        m, v = self.spec.m, self.spec.v
        if not isinstance(mb, int) or isinstance(mb, bool) or not 0 <= mb < m:
            where = f", chunk={chunk!r}" if v > 1 else ""
            raise StageMisuse(f"rank {self.rank}: {name}(mb={mb!r}{where}): mb must be an integer in 0..{m - 1}")
        if not isinstance(chunk, int) or not 0 <= chunk < v:
            raise StageMisuse(f"rank {self.rank}: {name}(..., chunk={chunk!r}): chunk must be an "
                              f"integer in 0..{v - 1}")
        if once:
            if (name, mb, chunk) in self._done:
                raise StageMisuse(f"rank {self.rank}: {self._name(name, mb, chunk)} called twice "
                                  "(each micro-batch goes forward and backward once per step)")
            self._done.add((name, mb, chunk))
        self.calls.append((name, mb, chunk))
        return chunk * self.spec.p + self.rank

    def _record(self, name: str, mb: int, chunk: int, start: float) -> None:
        self.events.append((name, mb, chunk, start, worker.clock()))

    def _recv(self, name: str, mb: int, chunk: int, from_stage: int, backward: bool) -> torch.Tensor:
        src = from_stage % self.spec.p
        start, waited = worker.clock(), time.monotonic()
        # the shape is known (activations and their gradients), so header and payload are posted
        # together and the rank wakes up once per message, not twice
        worker.set_status(f"waits in {self._name(name, mb, chunk)} from rank {src}")
        handle = None
        try:  # posting fails too when the sender already finished and closed the connection
            handle = comm.irecv_tensor(src, comm.pipeline_tag(from_stage, mb, backward), group=self._group,
                                       shape=self.spec.activation_shape())
            t = handle.wait(timeout_s=self.spec.deadlock_s)
        except ClusterError:
            if handle is not None:
                _ABANDONED.append(handle)
            raise StageStuck(f"{self._name(name, mb, chunk)} from rank {src}", (name, mb, chunk, src),
                             time.monotonic() - waited) from None
        self._record(name, mb, chunk, start)
        return self._returned(t, (name, mb, chunk))

    def _send(self, name: str, mb: int, chunk: int, t, to_stage: int, tag: int) -> None:
        if not isinstance(t, torch.Tensor):
            raise StageMisuse(f"rank {self.rank}: {self._name(name, mb, chunk)} needs a tensor "
                              f"(got {type(t).__name__}); send what forward/backward returned")
        if tuple(t.shape) != self.spec.activation_shape():
            raise StageMisuse(f"rank {self.rank}: {self._name(name, mb, chunk)} got a tensor of shape "
                              f"{tuple(t.shape)}; the neighbour expects {self.spec.activation_shape()}: "
                              "send what forward/backward returned")
        dst = to_stage % self.spec.p
        start = worker.clock()
        self._sends.append((comm.isend_tensor(t, dst, tag, group=self._group), (name, mb, chunk), dst))
        self._record(name, mb, chunk, start)

    def _returned(self, t: torch.Tensor, origin: tuple) -> torch.Tensor:
        self._origin[id(t)] = (t, origin)  # the tensor is kept so that its id is never reused
        return t

    def _expect_origin(self, name: str, mb: int, chunk: int, t, producer: str) -> None:
        if t is None:
            raise StageMisuse(f"rank {self.rank}: {self._name(name, mb, chunk)} got None; pass the "
                              f"tensor {self._name(producer, mb, chunk)} returned")
        _, origin = self._origin.get(id(t), (None, None))
        if origin is not None and origin != (producer, mb, chunk):
            self._note(f"rank {self.rank}: {self._name(name, mb, chunk)} was given "
                       f"{_mixed_up(origin, (producer, mb, chunk), self._name(*origin))}")

    def _name(self, name: str, mb: int, chunk: int = 0) -> str:
        return call_name(name, mb, chunk, self.spec.v)

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
