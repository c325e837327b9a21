"""One rank's side of the serving pipeline: its stage of the model, its KV caches, its loop.

Rank r holds stage r of the tiny GPT and, for every request it has seen, the KV cache of its own
layers, stored in blocks of a preallocated pool (``ppedu.serving.paged``): a ``PagedKVCache`` per
request id, whose blocks are freed when the driver says the request finished or was preempted.
Its own ``BlockManager`` is fed the same allocations as the driver's in the same order and fails
loudly if the blocks ever run out: the driver's block accounting is checked on every rank, every
step, against memory that really is that size.

A step on the ``timed`` workload computes (so the tokens can still be checked) and then waits
until it has lasted ``ServingCost.step_s(tokens)``, like a GPU kernel of known length.
"""

from __future__ import annotations

import time

import torch

from ppedu.model.kvcache import KVCache
from ppedu.runtime import comm, worker
from ppedu.serving.blocks import BlockManager
from ppedu.schedules.timeline import Event
from ppedu.serving.cost import ServingCost
from ppedu.serving.metrics import slot_event
from ppedu.serving.paged import BlockPool, PagedKVCache
from ppedu.serving.scheduler import Iteration
from ppedu.serving.wire import HEARTBEAT, STOP, TAG_RESULT, TAG_WORK, Wire


class StageServer:
    """One rank's stage: its layers, one KVCache per request, the steps it ran, its pending sends."""

    def __init__(self, stage, workload: str, cost: ServingCost, blocks: BlockManager):
        self.stage, self.workload, self.cost, self.blocks = stage, workload, cost, blocks
        n_head = stage.config.n_head
        self.pool = BlockPool(blocks.n_blocks, blocks.block_size, n_head, stage.config.n_embd // n_head)
        self.caches: dict[int, PagedKVCache] = {}
        self.events: list[Event] = []                               # the steps it ran, raw clock
        self.overran = 0
        self.late_s: list[float] = []                               # timed: step length - its price
        self.sends: list = []

    def warm_up(self, first_ids: list[int]) -> None:
        """One throw-away forward before the clock starts: the first call of each torch kernel
        is slow (allocation, dispatch caches), and a timed step must not overrun because of it."""
        with torch.no_grad():
            x = (torch.tensor(first_ids, dtype=torch.long) if self.stage.is_first
                 else torch.zeros(len(first_ids), self.stage.config.n_embd))
            self.stage.forward_infer(x, [KVCache()], [0], [len(first_ids)])

    def step(self, it: Iteration, x: torch.Tensor) -> torch.Tensor:
        """Run this stage for one iteration: (N,) ids or (N, C) activations in; activations out,
        or token ids (R,) on the last stage."""
        start = worker.clock()
        for rid in it.released:                                   # finished / preempted: free
            self.caches.pop(rid, None)
            self.blocks.free(rid)
        caches = []
        for rid, pos, n in zip(it.rids, it.positions, it.lengths):
            table = self.blocks.allocate(rid, pos + n)            # raises if the driver miscounted
            caches.append(self.caches.setdefault(rid, PagedKVCache(self.pool, table)))
        with torch.no_grad():
            y = self.stage.forward_infer(x, caches, it.positions, it.lengths)
        if self.stage.is_last:
            y = y.argmax(dim=-1)                                  # greedy: (R,) next tokens
        if self.workload == "timed":                              # pad to the step's fixed length
            left = start + self.cost.step_s(it.tokens) - worker.clock()
            if left > 0:
                time.sleep(left)                                  # wakes up a little late
            else:
                self.overran += 1
        end = worker.clock()
        if self.workload == "timed":
            self.late_s.append(end - start - self.cost.step_s(it.tokens))
        self.events.append(slot_event(worker.rank(), it.kind, it.slot, start, end))
        return y

    def send(self, t: torch.Tensor, dst: int, tag: int, index: int) -> None:
        """Send without blocking (gloo finishes a send only when the receiver posts its recv, and
        the ring 0 -> 1 -> ... -> p-1 -> 0 could deadlock), remembering its iteration."""
        self.sends.append((index, comm.isend_tensor(t, dst, tag)))

    def prune_sends(self, acked: int) -> None:
        """Forget the sends of iterations <= ``acked``: their results reached rank 0, so every
        receiver got them and ``wait()`` returns at once. (gloo marks a send complete only inside
        ``wait()``, so completion cannot be polled; without pruning the buffers would pile up.)"""
        keep = []
        for index, handle in self.sends:
            if index <= acked:
                handle.wait()
            else:
                keep.append((index, handle))
        self.sends = keep

    def wait_sends(self) -> None:
        for _, handle in self.sends:
            handle.wait()
        self.sends = []


def serve_stage(server: StageServer, wire: Wire, r: int, p: int) -> dict:
    """Ranks 1..p-1: receive, compute, pass on, until STOP comes by. The next receive is posted
    before computing, so the sender's message finds it waiting (see ``ppedu.serving.wire``)."""
    last = r == p - 1
    index = -1                                        # the last iteration seen (tags control messages)
    pending = wire.post_work(r - 1)
    while True:
        msg = pending.wait()                          # a timeout here means rank 0 went silent
        code = wire.code(msg)
        if code == STOP:                              # no receive left posted: the next job is clean
            if last:
                server.send(wire.control(STOP, work=False), 0, TAG_RESULT, index + 1)
            else:
                server.send(msg, r + 1, TAG_WORK, index + 1)
            return {}
        pending = wire.post_work(r - 1)
        if code == HEARTBEAT:
            if not last:
                server.send(msg, r + 1, TAG_WORK, index + 1)
            continue
        it, acked, x = wire.unpack_work(msg)
        index = it.index
        server.prune_sends(acked)
        y = server.step(it, x)
        if last:
            server.send(wire.result(y), 0, TAG_RESULT, it.index)
        else:
            server.send(wire.work(it, acked, y), r + 1, TAG_WORK, it.index)
