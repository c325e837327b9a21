"""Point-to-point communication between pipeline stages: blocking send/recv of activations and
gradients, as in Megatron-LM's p2p_communication and picotron's pipeline loops.

A stage does not always know the shape of what its neighbour will send, so a message is two sends:
a small int64 *header* (dtype, shape, send time) and then the payload. When both sides know the
shape (a pipeline's stage boundary: fixed activation shape) and no link is emulated (nobody needs
the send time), ``header=False`` sends the payload alone: one gloo message instead of two, which
halves the per-message set-up and wake-ups. Every wait has a timeout and publishes what it waits
on, so a hang turns into an error that names the rank and the operation.

Counters record bytes and messages per link and the time spent waiting, and an optional *link
model* (latency + bandwidth) delays each message on the receiving side as a slower link would, so a
cross-node link can be emulated on one machine:

    set_link_model(latency_ms=5, bandwidth_gbps=1)   # a message of n bytes arrives
                                                     # 5 ms + n / 1 GB/s after it was sent
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import timedelta

import torch
import torch.distributed as dist

from ppedu.runtime import worker
from ppedu.errors import ClusterError, check_float
from ppedu.i18n.messages import _

_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
           torch.int16, torch.int8, torch.uint8, torch.bool]
_MAX_DIMS = 8
HEADER_NUMEL = 4 + _MAX_DIMS           # [dtype code, ndim, send time (ns), reserved, *shape]
HEADER_BYTES = HEADER_NUMEL * 8


@dataclass
class LinkModel:
    """An emulated link: each message takes ``latency_ms + bytes / bandwidth`` to arrive."""
    latency_ms: float = 0.0
    bandwidth_gbps: float = float("inf")  # gigabytes per second

    def transfer_s(self, nbytes: int) -> float:
        return nbytes / (self.bandwidth_gbps * 1e9)


_link = LinkModel()
_link_free_at: dict[int, float] = defaultdict(float)  # per source rank: when the link is idle again


@dataclass
class Traffic:
    """Payload messages and their bytes on one link, one direction."""
    messages: int = 0
    bytes: int = 0


@dataclass
class CommStats:
    """One rank's counters, picklable: messages and bytes sent to and received from each peer rank;
    its all-reduce calls and the bytes it put on the wire for them; seconds waiting, delayed by the
    emulated link, and inside the calls that start messages (``start_s``: gloo's isend writes to the
    socket, irecv tells the peer a receive is posted)."""
    sent: dict[int, Traffic] = field(default_factory=lambda: defaultdict(Traffic))
    received: dict[int, Traffic] = field(default_factory=lambda: defaultdict(Traffic))
    all_reduce_calls: int = 0
    all_reduce_bytes: int = 0
    header_bytes: int = 0
    wait_s: float = 0.0
    link_delay_s: float = 0.0
    start_s: float = 0.0

    @property
    def bytes_sent(self) -> int:
        return sum(v.bytes for v in self.sent.values())

    @property
    def messages_sent(self) -> int:
        return sum(v.messages for v in self.sent.values())


_stats = CommStats()                   # this rank's live counters


def reset_stats() -> None:
    """Zero the counters of this rank."""
    global _stats
    _stats = CommStats()


def stats() -> CommStats:
    """This rank's counters since ``reset_stats()`` (a copy; its peers are plain dicts)."""
    return replace(_stats, sent={k: replace(v) for k, v in _stats.sent.items()},
                   received={k: replace(v) for k, v in _stats.received.items()})


def set_link_model(latency_ms: float = 0.0, bandwidth_gbps: float = float("inf")) -> LinkModel:
    """Emulate a slower link for every message this rank *receives* from now on."""
    global _link
    _link = LinkModel(check_float("latency_ms", latency_ms, 0.0, 10_000.0),
                      check_float("bandwidth_gbps", bandwidth_gbps, 1e-6))
    _link_free_at.clear()
    return _link


def link_emulated() -> bool:
    """Whether this rank emulates a slower link (then messages need the header's send time)."""
    return _link.latency_ms > 0 or _link.bandwidth_gbps != float("inf")


def _wait(work, what: str, peer: int | None = None, timeout_s: float | None = None) -> None:
    """Wait for a torch.distributed work handle with the cluster timeout (or ``timeout_s``);
    explain a failure."""
    worker.set_status(what)
    start = time.perf_counter()
    timeout = worker.op_timeout_s() if timeout_s is None else timeout_s
    try:
        work.wait(timeout=timedelta(seconds=timeout))
    except RuntimeError as exc:
        raise _failed(what, peer, exc, time.perf_counter() - start) from None
    _stats.wait_s += time.perf_counter() - start
    worker.set_status(_("running"))


def _failed(what: str, peer: int | None, exc: RuntimeError, after_s: float) -> ClusterError:
    """The error for a failed operation: this rank, the operation, the peer that did not answer."""
    worker.set_status(_("failed: {what}").format(what=what))
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    who = "" if peer is None else _(" ({peer} did not answer: is it dead, stuck, or waiting on something else?)")
    return ClusterError(_("{rank}: {what} failed after {seconds:.1f} s{who}: {error}").format(rank=worker.where(),
        what=what, seconds=after_s, who=who.format(peer=worker.where(peer)), error=text), rank=worker.rank(), job=what)


_MAX_MB = 1024  # pipeline message tags encode (producer stage, micro-batch, direction)


def pipeline_tag(producer_stage: int, mb: int, backward: bool) -> int:
    """The tag of one pipeline message: the activation (or, ``backward``, the gradient) that
    virtual stage ``producer_stage`` sends for micro-batch ``mb``. The executor and the lab's
    Stage both use it; comm adds its own header/payload tags on top."""
    return (producer_stage * _MAX_MB + mb) * 2 + int(backward)


def _tag(tag: int) -> dict:
    return {"tag": tag} if worker.backend() == "gloo" else {}  # NCCL has no tags: order is FIFO


def _header(t: torch.Tensor) -> torch.Tensor:
    if t.dim() > _MAX_DIMS:
        raise ValueError(f"tensors of at most {_MAX_DIMS} dimensions can be sent (got {t.dim()})")
    values = [_DTYPES.index(t.dtype), t.dim(), int(worker.clock() * 1e9), 0, *t.shape]
    values += [0] * (HEADER_NUMEL - len(values))
    return torch.tensor(values, dtype=torch.int64, device=worker.device())


class SendHandle:
    """An in-flight send; keeps the tensors alive until ``wait()``."""

    def __init__(self, works: list, tensors: list, what: str, peer: int):
        self._works, self._tensors, self._what, self._peer = works, tensors, what, peer

    def wait(self, timeout_s: float | None = None) -> None:
        for work in self._works:
            _wait(work, self._what, self._peer, timeout_s)
        self._works, self._tensors = [], []


def isend_tensor(t: torch.Tensor, dst: int, tag: int = 0, group=None,
                 header: bool = True) -> SendHandle:
    """Start sending ``t`` (header first) to rank ``dst``; call ``.wait()`` before reusing ``t``.
    ``group``: a process group holding every rank (``dst`` is the global rank), e.g. one made for
    a single attempt so that a timeout there cannot break the default group (gloo closes the pair).
    ``header=False``: the payload alone; the receiver must post ``irecv_tensor(..., shape=,
    header=False)`` with the same shape and dtype."""
    payload = t.detach().to(worker.device()).contiguous()
    tensors = [_header(payload), payload] if header else [payload]
    what = _("send {shape} to rank {dst} (tag {tag})").format(shape=tuple(payload.shape), dst=dst, tag=tag)
    start = time.perf_counter()
    try:  # a peer already gone fails here, before any wait
        works = [dist.isend(x, dst, group=group, **_tag(tag)) for x in tensors]
    except RuntimeError as exc:
        raise _failed(what, dst, exc, 0.0) from None
    _stats.start_s += time.perf_counter() - start
    link, nbytes = _stats.sent[dst], payload.numel() * payload.element_size()
    link.bytes, link.messages = link.bytes + nbytes, link.messages + 1
    _stats.header_bytes += HEADER_BYTES if header else 0
    return SendHandle(works, tensors, what, dst)


def send_tensor(t: torch.Tensor, dst: int, tag: int = 0) -> None:
    """Send ``t`` to rank ``dst`` and wait until it has left."""
    isend_tensor(t, dst, tag).wait()


class RecvHandle:
    """An in-flight receive. The header is posted at once; so is the payload when the caller
    knows its shape (``shape=``), which lets the transfer finish in the background while this rank
    computes (a pipeline posts its receives early). Otherwise the payload is posted by ``wait()``.
    ``header=False`` (needs ``shape``): the sender sends the payload alone."""

    def __init__(self, src: int, tag: int, shape=None, dtype: torch.dtype = torch.float32,
                 group=None, header: bool = True):
        if not header and (shape is None or link_emulated()):
            raise ValueError("a receive without header needs its shape and no emulated link "
                             "(the link delay needs the header's send time)")
        self.src, self.tag, self.group = src, tag, group
        self._header = torch.empty(HEADER_NUMEL, dtype=torch.int64, device=worker.device()) if header else None
        self._payload = self._payload_work = self._work = None
        start = time.perf_counter()
        try:  # a peer already gone fails here, before any wait
            if header:
                self._work = dist.irecv(self._header, src, group=group, **_tag(tag))
            if shape is not None:
                self._payload = torch.empty(tuple(shape), dtype=dtype, device=worker.device())
                self._payload_work = dist.irecv(self._payload, src, group=group, **_tag(tag))
        except RuntimeError as exc:
            raise _failed(_("post recv from rank {src} (tag {tag})").format(src=src, tag=tag), src, exc, 0.0) from None
        _stats.start_s += time.perf_counter() - start

    def wait(self, timeout_s: float | None = None) -> torch.Tensor:
        sent_ns = None
        if self._header is not None:
            sent_ns = self._wait_header(timeout_s)
        payload = self._payload
        _wait(self._payload_work, _("recv {shape} from rank {src} (tag {tag})").format(
            shape=tuple(payload.shape), src=self.src, tag=self.tag), self.src, timeout_s)
        link, nbytes = _stats.received[self.src], payload.numel() * payload.element_size()
        link.bytes, link.messages = link.bytes + nbytes, link.messages + 1
        if sent_ns is not None:
            _stats.header_bytes += HEADER_BYTES
            _apply_link_delay(self.src, sent_ns / 1e9, nbytes)
        return payload

    def _wait_header(self, timeout_s: float | None) -> int:
        """Wait for the header, post (or check) the payload; returns the send time in ns."""
        _wait(self._work, _("recv header from rank {src} (tag {tag})").format(src=self.src, tag=self.tag), self.src, timeout_s)
        code, ndim, sent_ns = (int(v) for v in self._header[:3].tolist())
        shape = [int(v) for v in self._header[4:4 + ndim].tolist()]
        if self._payload is None:
            self._payload = torch.empty(shape, dtype=_DTYPES[code], device=worker.device())
            self._payload_work = dist.irecv(self._payload, self.src, group=self.group,
                                            **_tag(self.tag))
        elif list(self._payload.shape) != shape or self._payload.dtype != _DTYPES[code]:
            raise ClusterError(_("rank {rank}: expected {got} from rank {src} (tag {tag}) but the sender sent {sent}").format(
                rank=worker.rank(), got=f"{tuple(self._payload.shape)} {self._payload.dtype}", src=self.src, tag=self.tag,
                sent=f"{tuple(shape)} {_DTYPES[code]}"), rank=worker.rank())
        return sent_ns


def irecv_tensor(src: int, tag: int = 0, shape=None, dtype: torch.dtype = torch.float32,
                 group=None, header: bool = True) -> RecvHandle:
    """Post a receive from rank ``src``; ``.wait()`` returns the tensor. Give ``shape`` (and
    ``dtype``) when known to post the payload early too; a mismatch with the header is an error.
    ``header=False``: the sender sends no header (``isend_tensor(..., header=False)``)."""
    return RecvHandle(src, tag, shape, dtype, group, header)


def recv_tensor(src: int, tag: int = 0) -> torch.Tensor:
    """Receive one tensor (any shape and dtype) from rank ``src``."""
    return irecv_tensor(src, tag).wait()


def _apply_link_delay(src: int, sent_at: float, nbytes: int) -> None:
    """Hold the message until it would have arrived over the emulated link (one message at a time)."""
    if _link.latency_ms == 0 and _link.bandwidth_gbps == float("inf"):
        return
    on_wire = max(sent_at, _link_free_at[src]) + _link.transfer_s(nbytes)
    _link_free_at[src] = on_wire
    delay = on_wire + _link.latency_ms / 1e3 - worker.clock()
    if delay > 0:
        worker.set_status(_("link delay from rank {src} ({ms:.1f} ms)").format(src=src, ms=delay * 1e3))
        time.sleep(delay)
        _stats.link_delay_s += delay


def all_reduce(t: torch.Tensor, group=None, op=dist.ReduceOp.SUM) -> torch.Tensor:
    """In-place all-reduce with timeout and counters. The emulated link charges a *ring* all-reduce
    in the alpha-beta model (Thakur, Rabenseifner & Gropp 2005): 2(n-1) steps (reduce-scatter, then
    all-gather), each one latency alpha and S/n bytes, so 2(n-1)*alpha + 2(n-1)/n * S / beta.
    ``bytes`` counts the 2(n-1)/n * S each rank puts on the wire."""
    n = dist.get_world_size(group)
    nbytes = t.numel() * t.element_size()
    _stats.all_reduce_calls += 1
    _stats.all_reduce_bytes += int(2 * (n - 1) / n * nbytes)
    if n == 1:
        return t
    _wait(dist.all_reduce(t, op=op, group=group, async_op=True), f"all_reduce {tuple(t.shape)}")
    if _link.latency_ms or _link.bandwidth_gbps != float("inf"):
        delay = 2 * (n - 1) * _link.latency_ms / 1e3 + _link.transfer_s(int(2 * (n - 1) / n * nbytes))
        time.sleep(delay)
        _stats.link_delay_s += delay
    return t


def barrier(group=None) -> None:
    """A barrier with the cluster timeout."""
    _wait(dist.barrier(group=group, async_op=True), "barrier")
