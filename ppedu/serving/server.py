"""A pipeline-parallel inference server on real ranks: KV caches, batching policies, K in flight.

    from ppedu.serving.server import serve
    from ppedu.serving.scheduler import BatchingConfig
    from ppedu.serving.workload import make_workload
    result = serve(make_workload(16, output_dist="longtail"), BatchingConfig("continuous", 4, 2), p=2)
    print(result.summary())

Rank r holds stage r of the tiny GPT and, for every request it has seen, the KV cache of its own
layers (a ``KVCache`` per request id, dropped when the driver says the request finished).

The driver (``ppedu.serving.scheduler.Scheduler``) runs on **rank 0**, the first stage: prompts enter there
and the next token must be fed back there, so a scheduler on rank 0 needs exactly one message per
iteration back from the last stage (the sampled token ids) and none the other way. (On the last
rank it would have to send the new batch's token ids forward to rank 0 -- also one message, but
the arrivals and the first-stage compute would live on different ranks.) Under torchrun, rank 0
is also the process that prints.

One iteration of one batch, ``p`` stages:
    rank 0: schedule -> embed + its layers -> send (meta, activations) to rank 1
    rank r: recv -> its layers -> send to rank r+1
    rank p-1: recv -> its layers + head -> argmax -> send token ids to rank 0   (greedy decoding)
Stages run iterations in the order they arrive (FIFO), so results come back in issue order. No
rank ever waits on a send (gloo finishes a send only when the receiver posts its recv, and the ring
0 -> 1 -> ... -> p-1 -> 0 could deadlock). Rank 0 loops like vLLM V1's ``step_with_batch_queue``:
if a free slot has work, issue it; else block on the *oldest* in-flight iteration's tokens (gloo
cannot poll a receive: ``is_completed()`` only turns true inside ``wait()``); else sleep until
the next arrival. So a request arriving while rank 0 waits for tokens joins at the next result.

Workloads: ``model`` computes and is timed as it is; ``timed`` computes too (so the tokens can still
be checked) and then waits until the step has lasted ``ServingCost.step_s(...)``, like a GPU kernel
of known length -- the pipeline behaviour becomes independent of how loaded the CPU is.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import astuple
from functools import lru_cache

import torch

from ppedu.runtime import cluster, comm
from ppedu.serving.scheduler import BatchingConfig, Iteration, Scheduler
from ppedu.errors import UsageError, check_choice, check_int
from ppedu.model.kvcache import KVCache, greedy_generate
from ppedu.model.gpt import GPT, GPTConfig, split_into_stages
from ppedu.model.partition import partition
from ppedu.serving.metrics import ServingResult
from ppedu.serving.simulator import ServingCost
from ppedu.serving.wire import HEARTBEAT, STOP, TAG_RESULT, TAG_WORK, Wire
from ppedu.schedules.timeline import Event, Timeline
from ppedu.serving.workload import Request

WORKLOADS = ("model", "timed")
HEARTBEAT_SHARE = 0.25               # idle stages hear from rank 0 every quarter of their recv timeout


def serve(requests: list[Request], config: BatchingConfig, p: int, workload: str = "model",
          cost: ServingCost | None = None, model_config: GPTConfig | None = None, group=None,
          check_tokens: bool = True) -> ServingResult:
    """Serve ``requests`` on ``p`` ranks; return the measured metrics, timeline and tokens.

    ``check_tokens`` compares every request's tokens with single-process ``greedy_generate``.
    ``group`` defaults to ``ppedu.runtime.cluster.connect(p)`` (a warm local cluster, or torchrun's ranks).
    """
    check_int("p", p, 1, 64)
    if not requests:
        raise UsageError("requests must hold at least one request (got none)")
    check_int("inflight", config.inflight, 1, p)
    check_choice("workload", workload, WORKLOADS)
    cost = cost or ServingCost()
    longest = max(r.prompt_len + r.output_len for r in requests)
    model_config = model_config or GPTConfig(n_layer=max(4, p), block_size=max(64, longest))
    if longest > model_config.block_size:
        raise UsageError(f"prompt + output tokens must be at most block_size={model_config.block_size} "
                         f"(got {longest})")
    if p > model_config.n_layer:
        raise UsageError(f"p must be at most n_layer={model_config.n_layer} (got {p})")
    group = group or cluster.connect(p)
    if group.world_size != p:
        raise UsageError(f"p must equal the cluster's world_size={group.world_size} (got {p})")
    outs = group.run(serve_job, requests, config, workload, cost, model_config)
    t0 = outs[0]["t0"]
    events = [Event(r, kind, slot, 0, start - t0, end - t0)
              for r, out in enumerate(outs) for kind, slot, start, end in out["events"]]
    states = outs[0]["states"]
    match = None
    if check_tokens and getattr(group, "is_driver", True):
        match = all(s.generated == reference_tokens(model_config, s.request.prompt, s.request.output_len)
                    for s in states)
    return ServingResult(config=config, p=p, source=workload, states=states,
                         timeline=Timeline(events, p), occupancy=outs[0]["occupancy"],
                         tokens_match_reference=match,
                         overran_steps=sum(o["overran"] for o in outs),
                         extra={"cost": cost.__dict__ if workload == "timed" else None})


def reference_tokens(config: GPTConfig, prompt, n: int) -> list[int]:
    """Single-process greedy decoding without a cache: what every server must reproduce."""
    return list(_reference(astuple(config), tuple(prompt), n))


@lru_cache(maxsize=8192)
def _reference(config: tuple, prompt: tuple[int, ...], n: int) -> tuple[int, ...]:
    return tuple(greedy_generate(_reference_model(config), list(prompt), n))


@lru_cache(maxsize=2)
def _reference_model(config: tuple) -> GPT:
    return GPT(GPTConfig(*config)).eval()


# --------------------------------------------------------------------------------------------------
# The job: every rank runs serve_job; rank 0 drives, the others serve their stage
# --------------------------------------------------------------------------------------------------
def serve_job(requests: list[Request], config: BatchingConfig, workload: str, cost: ServingCost,
              model_config: GPTConfig) -> dict:
    r, p = cluster.rank(), cluster.world_size()
    stage = split_into_stages(GPT(model_config), partition(model_config, p).boundaries)[r].eval()
    server = _StageServer(stage, workload, cost)
    comm.barrier()
    t0 = cluster.clock()                      # rank 0's t0 becomes time zero of the whole run
    wire = Wire.for_run(requests, config, model_config.n_embd)
    if r == 0:
        out = _drive(Scheduler(requests, config), server, wire, p, t0)
    else:
        out = _serve_stage(server, wire, r, p)
    server.wait_sends()
    return {**out, "t0": t0, "events": server.events, "overran": server.overran}


class _StageServer:
    """One rank's stage: its layers, one KVCache per request, the steps it ran, its pending sends."""

    def __init__(self, stage, workload: str, cost: ServingCost):
        self.stage, self.workload, self.cost = stage, workload, cost
        self.caches: dict[int, KVCache] = {}
        self.events: list[tuple[str, int, float, float]] = []   # (kind, slot, start, end), raw clock
        self.overran = 0
        self.sends: list = []

    def step(self, it: Iteration, x: torch.Tensor) -> torch.Tensor:
        """Run this stage for one iteration: (N,) ids or (N, C) activations in; activations out,
        or token ids (R,) on the last stage."""
        start = cluster.clock()
        for rid in it.released:                                   # finished: free their memory
            self.caches.pop(rid, None)
        caches = [self.caches.setdefault(rid, KVCache()) for rid in it.rids]
        y = self.stage.forward_infer(x, caches, it.positions, it.lengths)
        if self.stage.is_last:
            y = y.argmax(dim=-1)                                  # greedy: (R,) next tokens
        if self.workload == "timed":                              # pad to the step's fixed length
            left = start + self.cost.step_s(len(it.rids), it.prefill_tokens) - cluster.clock()
            if left > 0:
                time.sleep(left)
            else:
                self.overran += 1
        self.events.append((it.kind, it.slot, start, cluster.clock()))
        return y

    def send(self, t: torch.Tensor, dst: int, tag: int, index: int) -> None:
        """Send without blocking (see the module docstring), remembering the iteration it belongs to."""
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


def _drive(sched: Scheduler, server: _StageServer, wire: Wire, p: int, t0: float) -> dict:
    """Rank 0: the scheduler loop plus stage 0 -- issue an iteration for a free slot if one has
    work, else wait for the oldest iteration's tokens, else sleep until the next arrival."""
    in_flight: deque[Iteration] = deque()
    result = wire.post_result(p - 1) if p > 1 else None
    last_message = time.perf_counter()
    while not sched.finished():
        now = cluster.clock() - t0
        it = sched.issue(now)                                      # 1. start one iteration
        if it is not None:
            y = server.step(it, torch.tensor(it.input_ids, dtype=torch.long))
            if p == 1:
                sched.complete(it, y.tolist(), cluster.clock() - t0)
            else:
                acked = (in_flight[0].index if in_flight else it.index) - 1   # results all back up to here
                server.send(wire.work(it, acked, y), 1, TAG_WORK, it.index)
                in_flight.append(it)
                last_message = time.perf_counter()
            continue
        if in_flight:                                              # 2. wait for the oldest result
            msg = result.wait()
            result = wire.post_result(p - 1)
            done = in_flight.popleft()
            sched.complete(done, wire.tokens(msg), cluster.clock() - t0)
            server.prune_sends(done.index)    # its result is back: every hop of it was received
            continue
        wake = sched.next_event_s(now)                             # 3. idle until the next arrival
        if wake is None:
            raise RuntimeError("serving stalled: no iteration in flight and nothing to wait for")
        heartbeat_s = HEARTBEAT_SHARE * cluster.op_timeout_s()
        time.sleep(max(0.0, min(wake - now, heartbeat_s / 4)))
        if p > 1 and time.perf_counter() - last_message > heartbeat_s:
            server.send(wire.control(HEARTBEAT), 1, TAG_WORK, sched.issued)   # keep stage recvs alive
            last_message = time.perf_counter()
    if p > 1:
        server.send(wire.control(STOP), 1, TAG_WORK, sched.issued)
        echo = result.wait()                                       # the STOP went round the ring
        if wire.code(echo) != STOP:
            raise RuntimeError(f"expected the STOP echo, got {wire.tokens(echo)}")
    return {"states": list(sched.states.values()), "occupancy": sched.occupancy}


def _serve_stage(server: _StageServer, wire: Wire, r: int, p: int) -> dict:
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
