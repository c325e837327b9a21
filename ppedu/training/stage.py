"""One rank's view of the pipeline: the six calls of picotron's loop, plus ``weight``.

    recv_forward(mb, chunk=0) -> x      forward(mb, x, chunk=0) -> y      send_forward(mb, y, chunk=0)
    recv_backward(mb, chunk=0) -> g     backward(mb, g, chunk=0) -> g_in  send_backward(mb, g_in, chunk=0)
    weight(mb, chunk=0)                 zero bubble's W: the weight-gradient half of a split backward

Three drivers call it: the readable loops (``ppedu.training.loops``), the executor and a student's
``train_step(stage)`` (``ppedu.lab.stage`` adds checks). Off either end of the pipe a receive
returns None and a send does nothing; the first ``forward`` reads the batch, the last returns the
loss and its ``backward(mb, None)`` starts from 1/m. Messages go where ``Schedule.neighbours``
says, tagged (sending virtual stage, micro-batch, direction); sends return at once (``finish``
waits), receives block; compute and receives are ``Timeline`` events on the shared clock. Speed,
as options: ``post_receives`` (a step's receives posted up front), ``header=False`` (the payload
alone, where no link is emulated), a local hand-off to a stage on the same rank (a V's turn).
"""

from __future__ import annotations

import torch

from ppedu.runtime import comm, worker
from ppedu.schedules.actions import Action
from ppedu.schedules.timeline import COMPUTE_KINDS, Event, Timeline
from ppedu.training.workloads import Held


class Stage:
    """This rank's stages of ``spec.built_schedule``, computing ``work`` (``ppedu.training.workloads``)."""

    def __init__(self, spec, rank: int, work, group=None, header: bool = True):
        self.spec, self.schedule, self._rank, self.work = spec, spec.built_schedule, rank, work
        schedule = self.schedule
        self.group, self.header = group, header
        # chunk -> (virtual stage, rank before, rank after): the routing, read once
        self._route = {c: (schedule.stage_of(rank, c), *schedule.neighbours(rank, c)) for c in range(schedule.v)}
        self.split = schedule.weight_split(rank)       # (chunk, mb) whose backward has its own W
        self.sync = torch.device(work.device).type == "cuda"   # a GPU kernel ends when it is done
        self.events: list[Event] = []                  # on the shared clock
        self.saved: dict[tuple[int, int], Held] = {}   # (chunk, mb) -> what backward needs
        self.sends: list[tuple] = []                   # (handle, (call, mb, chunk), peer): finish waits
        self.posted: dict[int, comm.RecvHandle] = {}   # tag -> receive posted ahead
        self.local: dict[int, torch.Tensor] = {}       # tag -> message to a stage on this rank
        self.held = self.peak_held = 0                 # (chunk, mb) pairs between forward and backward
        self.held_bytes = self.peak_bytes = 0          # the bytes the workload says they hold
        self.losses: list[float] = []                  # the last stage's micro-batch losses

    # -- who am I ----------------------------------------------------------------------------------
    rank = property(lambda self: self._rank, doc="this rank (0 .. world_size - 1)")
    world_size = property(lambda self: self.schedule.p, doc="number of ranks p")
    num_microbatches = property(lambda self: self.schedule.m, doc="micro-batches per step m")
    num_chunks = property(lambda self: self.schedule.v, doc="model chunks per rank v (interleaving)")
    is_first = property(lambda self: self._rank == 0, doc="rank 0: reads the batch")
    is_last = property(lambda self: self._rank == self.schedule.p - 1, doc="last rank: computes the loss")

    # -- messages ----------------------------------------------------------------------------------
    def recv_forward(self, mb: int, chunk: int = 0) -> torch.Tensor | None:
        """Activations of micro-batch ``mb`` from the previous stage (None on the first stage)."""
        s, before, _ = self._route[chunk]
        return None if before is None else \
            self._recv("recv_forward", mb, chunk, before, comm.pipeline_tag(s - 1, mb, False))

    def recv_backward(self, mb: int, chunk: int = 0) -> torch.Tensor | None:
        """Gradient of this stage's output for ``mb`` from the next stage (None on the last)."""
        s, _, after = self._route[chunk]
        return None if after is None else \
            self._recv("recv_backward", mb, chunk, after, comm.pipeline_tag(s + 1, mb, True))

    def send_forward(self, mb: int, y: torch.Tensor, chunk: int = 0) -> None:
        """Send ``forward``'s output of ``mb`` to the next stage (nothing on the last stage)."""
        s, _, after = self._route[chunk]
        if after is not None:
            self._send("send_forward", mb, chunk, y, after, comm.pipeline_tag(s, mb, False))

    def send_backward(self, mb: int, g: torch.Tensor | None, chunk: int = 0) -> None:
        """Send ``backward``'s input gradient of ``mb`` to the previous stage (nothing on the first)."""
        s, before, _ = self._route[chunk]
        if before is not None:
            self._send("send_backward", mb, chunk, g, before, comm.pipeline_tag(s, mb, True))

    def post_receives(self, actions: list[Action]) -> None:
        """Post every receive of ``actions`` now, in the order they will be consumed, so messages
        land while this rank computes instead of when it asks for them."""
        shape = self.spec.activation_shape()
        for a in (u for action in actions for u in action.units):
            s, before, after = self._route[a.chunk]
            src = before if a.kind == "F" else after if a.kind == "B" else None
            if src not in (None, self._rank):
                tag = comm.pipeline_tag(s - 1 if a.kind == "F" else s + 1, a.mb, a.kind == "B")
                self.posted[tag] = comm.irecv_tensor(src, tag, shape, group=self.group, header=self.header)

    def finish(self) -> None:
        """Wait until every message this rank sent has left."""
        for handle, *_ in self.sends:
            handle.wait()
        self.sends.clear()

    # -- compute -----------------------------------------------------------------------------------
    def forward(self, mb: int, x: torch.Tensor | None, chunk: int = 0) -> torch.Tensor:
        """This stage's layers on micro-batch ``mb`` (the first stage reads the batch); the last
        stage returns the loss."""
        s, before, after = self._route[chunk]
        if before is None:
            x = self.work.first_input(mb)
        start = worker.clock()
        out, inp, nbytes = self.work.forward(s, mb, x)
        self._record("F", mb, chunk, start)
        self.saved[(chunk, mb)] = Held(inp, out, nbytes)
        self.held, self.held_bytes = self.held + 1, self.held_bytes + nbytes
        self.peak_held, self.peak_bytes = max(self.peak_held, self.held), max(self.peak_bytes, self.held_bytes)
        if after is None:
            self.losses.append(float(out.detach()))
        return out.detach()

    def backward(self, mb: int, grad: torch.Tensor | None, chunk: int = 0) -> torch.Tensor | None:
        """Backward of ``mb`` through this stage (split: the input gradient only, ``weight`` does
        the rest); returns the input gradient (None on the first stage)."""
        s, held, split = self._route[chunk][0], self.saved[(chunk, mb)], (chunk, mb) in self.split
        start = worker.clock()
        if grad is None:  # the last stage: d(loss / m) / d(loss) = 1/m, gradient accumulation's mean
            grad = torch.full_like(held.out, 1.0 / self.num_microbatches)
        grad_in = self.work.backward(s, held, grad, split)
        self._record("B", mb, chunk, start)
        if not split:
            self._release(chunk, mb)
        return grad_in

    def weight(self, mb: int, chunk: int = 0) -> None:
        """The weight-gradient half of ``mb``'s split backward (zero bubble's W)."""
        start = worker.clock()
        self.work.weight(self._route[chunk][0], self.saved[(chunk, mb)])
        self._record("W", mb, chunk, start)
        self._release(chunk, mb)

    @property
    def loss(self) -> float | None:
        """The step's loss, the mean over its micro-batches (None where the last stage is not)."""
        return sum(self.losses) / len(self.losses) if self.losses else None

    def gradients(self) -> dict[str, torch.Tensor]:
        return self.work.gradients()

    # -- internals ---------------------------------------------------------------------------------
    def _record(self, kind: str, mb: int, chunk: int, start: float) -> None:
        if self.sync:
            torch.cuda.synchronize()
        self.events.append(Event(self._rank, kind, mb, chunk, start, worker.clock()))

    def _release(self, chunk: int, mb: int) -> None:
        self.held, self.held_bytes = self.held - 1, self.held_bytes - self.saved.pop((chunk, mb)).nbytes

    def _recv(self, name: str, mb: int, chunk: int, src: int, tag: int) -> torch.Tensor:
        if tag in self.local:
            return self.local.pop(tag)
        start = worker.clock()
        t = self._receive(name, mb, chunk, src, tag)
        self.events.append(Event(self._rank, "recv", mb, chunk, start, worker.clock()))
        return t

    def _receive(self, name: str, mb: int, chunk: int, src: int, tag: int) -> torch.Tensor:
        """The message itself: its receive posted ahead, or posted now."""
        handle = self.posted.pop(tag, None)
        if handle is None:
            handle = comm.irecv_tensor(src, tag, self.spec.activation_shape(), group=self.group, header=self.header)
        return handle.wait()

    def _send(self, name: str, mb: int, chunk: int, t: torch.Tensor, dst: int, tag: int) -> None:
        if dst == self._rank:   # the next stage lives here too (a V turns on the last rank)
            self.local[tag] = t.detach()
        else:
            self.sends.append((comm.isend_tensor(t, dst, tag, group=self.group, header=self.header),
                               (name, mb, chunk), dst))


def measured_timeline(reports: list, p: int) -> Timeline:
    """The ranks' events of one step (``reports``: each with ``events`` and ``t0``) as one Timeline.
    Time 0 is the first compute, not the barrier before it: ranks leave a barrier a few ms apart
    on a busy CPU, and that skew is not part of the pipeline's bubble."""
    t0 = min((e.start for r in reports for e in r.events if e.kind in COMPUTE_KINDS),
             default=min(r.t0 for r in reports))
    return Timeline([e._replace(start=e.start - t0, end=e.end - t0) for r in reports for e in r.events], p)
