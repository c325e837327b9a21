"""A pipeline-parallel inference server on real ranks: KV caches, batching policies, K in flight.

    from ppedu.serving.server import serve
    from ppedu.serving.scheduler import BatchingConfig
    from ppedu.serving.workload import make_workload
    result = serve(make_workload(16, output_dist="lognormal"), BatchingConfig("continuous", 4, 2), p=2)
    print(result.summary())

The driver (``ppedu.serving.driver.drive`` over a ``RankPipe``) runs on **rank 0**, the first
stage: prompts enter there and the next token must be fed back there, so a scheduler on rank 0
needs exactly one message per iteration back from the last stage (the sampled token ids) and
none the other way. Under torchrun, rank 0 is also the process that prints. The other ranks run
``ppedu.serving.stage.serve_stage``.

One iteration of one batch, ``p`` stages:
    rank 0: schedule -> embed + its layers -> send (meta, activations) to rank 1
    rank r: recv -> its layers -> send to rank r+1
    rank p-1: recv -> its layers + head -> argmax -> send token ids to rank 0   (greedy decoding)
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import astuple, dataclass
from functools import lru_cache

import torch

from ppedu.errors import UsageError, check_choice
from ppedu.i18n.messages import _
from ppedu.model.gpt import GPT, GPTConfig, split_into_stages
from ppedu.model.kvcache import greedy_generate
from ppedu.model.partition import partition
from ppedu.runtime import cluster, comm, worker
from ppedu.schedules.timeline import Event, Timeline
from ppedu.serving.blocks import BlockManager
from ppedu.serving.calibrate import IDLE, LAUNCH, fit_step_cost, measured_overheads, overhead_samples
from ppedu.serving.cost import ServingCost
from ppedu.serving.driver import drive
from ppedu.serving.metrics import ServingResult
from ppedu.serving.scheduler import BatchingConfig, Iteration, Scheduler, check_pipeline, kv_blocks
from ppedu.serving.stage import StageServer, serve_stage
from ppedu.serving.wire import HEARTBEAT, STOP, TAG_WORK, Wire
from ppedu.serving.workload import Request
from ppedu.model.workloads import WORKLOADS

HEARTBEAT_SHARE = 0.25               # idle stages hear from rank 0 every quarter of their recv timeout


def serve(requests: list[Request], config: BatchingConfig, p: int, workload: str = "model",
          cost: ServingCost | None = None, model_config: GPTConfig | None = None, group=None,
          check_tokens: bool = True) -> ServingResult:
    """Serve ``requests`` on ``p`` ranks; return the measured metrics, timeline and tokens.

    ``check_tokens`` compares every request's tokens with single-process ``greedy_generate``.
    ``group`` defaults to ``ppedu.runtime.cluster.connect(p)`` (a warm local cluster, or torchrun's ranks).
    """
    check_pipeline(requests, config, p)
    check_choice("workload", workload, WORKLOADS)
    cost = cost or ServingCost()
    longest = max(r.prompt_len + r.output_len for r in requests)
    model_config = model_config or GPTConfig(n_layer=max(4, p), block_size=max(64, longest))
    if longest > model_config.block_size:
        raise UsageError(_("prompt + output tokens must be at most block_size={n} (got {longest})").format(
            n=model_config.block_size, longest=longest))
    if p > model_config.n_layer:
        raise UsageError(_("p must be at most n_layer={n} (got {p})").format(n=model_config.n_layer, p=p))
    group = group or cluster.connect(p)
    if group.world_size != p:
        raise UsageError(_("p must equal the cluster's world_size={n} (got {p})").format(n=group.world_size, p=p))
    outs = group.run(serve_job, requests, config, workload, cost, model_config)
    t0, sched, follows = outs[0].t0, outs[0].sched, outs[0].follows
    timeline = Timeline([e._replace(start=e.start - t0, end=e.end - t0) for out in outs for e in out.events], p)
    samples = overhead_samples(timeline, follows, [x for o in outs for x in o.late_s])
    match = None
    if check_tokens and getattr(group, "is_driver", True):
        match = all(s.generated == reference_tokens(model_config, s.request.prompt, s.request.output_len)
                    for s in sched.states.values())
    return ServingResult.of(sched, p=p, source=workload, timeline=timeline, tokens_match_reference=match,
                            overran_steps=sum(o.overran for o in outs),
                            overheads=measured_overheads(samples),
                            step_fit=fit_step_cost(timeline, sched.iteration_tokens),
                            kv_stage_peak_blocks=[o.kv_peak for o in outs],
                            cost=cost if workload == "timed" else None, jitter=samples)


def reference_tokens(config: GPTConfig, prompt, n: int) -> list[int]:
    """Single-process greedy decoding without a cache: what every server must reproduce.

    Greedy decoding's first m tokens do not depend on how many follow, so the longest sequence
    decoded so far per prompt is kept and extended on demand (decoding on from prompt + tokens
    is exactly what ``greedy_generate`` does next): the chapter's workloads reuse the same
    prompts with other lengths, and each reference costs a whole forward per token."""
    key = (astuple(config), tuple(prompt))
    have = _REFERENCE.get(key, ())
    if len(have) < n:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)    # a (1, t<=64) forward: more threads only spin, and on a busy
        try:                        # 2-core machine they made it 20x slower (4.5 s vs 0.2 s)
            more = greedy_generate(_reference_model(key[0]), list(prompt) + list(have), n - len(have))
        finally:
            torch.set_num_threads(threads)
        have = _REFERENCE[key] = have + tuple(more)
        if len(_REFERENCE) > 8192:                  # bounded: forget the oldest prompt
            _REFERENCE.pop(next(iter(_REFERENCE)))
    return list(have[:n])


_REFERENCE: dict[tuple, tuple[int, ...]] = {}       # (config, prompt) -> longest greedy tokens


@lru_cache(maxsize=2)
def _reference_model(config: tuple) -> GPT:
    return GPT(GPTConfig(*config)).eval()


def serve_job(requests: list[Request], config: BatchingConfig, workload: str, cost: ServingCost,
              model_config: GPTConfig) -> StageReport:
    """Every rank runs this: rank 0 drives (and computes stage 0), the others serve their stage."""
    r, p = worker.rank(), worker.world_size()
    stage = split_into_stages(GPT(model_config), partition(model_config, p).boundaries)[r].eval()
    sched = Scheduler(requests, config, model_config.block_size) if r == 0 else None   # rank 0 drives
    blocks = BlockManager(kv_blocks(requests, config), config.block_size)   # every rank: the same count
    server = StageServer(stage, workload, cost, blocks)
    server.warm_up(list(requests[0].prompt))
    wire = Wire.for_run(requests, config, model_config.n_embd)
    comm.barrier()
    t0 = worker.clock()                      # rank 0's t0 becomes time zero of the whole run
    follows: list[int] = []
    if r == 0:
        pipe = RankPipe(server, wire, p, t0)
        drive(sched, pipe)
        pipe.close(sched.issued)
        follows = pipe.follows
    else:
        serve_stage(server, wire, r, p)
    server.wait_sends()
    return StageReport(t0, server.events, server.overran, server.late_s, server.blocks.peak_used,
                       sched, follows)


@dataclass
class StageReport:
    """What one rank of a serving run returns (picklable: it crosses the process boundary)."""
    t0: float                    # when this rank started serving, on the shared clock (rank 0's: time zero)
    events: list[Event]          # the steps this rank ran (slot_event), on the shared clock
    overran: int                 # timed steps whose real compute took longer than their price
    late_s: list[float]          # how late each timed step ended
    kv_peak: int                 # KV blocks in use at the peak
    sched: Scheduler | None      # rank 0: the scheduler, with every request's tokens and times
    follows: list[int]           # rank 0, per launch: what came right before (ppedu.serving.calibrate)


class RankPipe:
    """The driver's pipe on rank 0: ``launch`` computes stage 0 and sends the activations on,
    ``wait_oldest`` blocks on the oldest iteration's tokens, ``idle_until`` sleeps (and keeps the
    idle stages' receives alive with heartbeats)."""

    def __init__(self, server: StageServer, wire: Wire, p: int, t0: float):
        self.server, self.wire, self.p, self.t0 = server, wire, p, t0
        self.queue: deque[tuple[Iteration, list[int] | None]] = deque()   # in issue order
        self.result = wire.post_result(p - 1) if p > 1 else None
        self.last_message = time.perf_counter()
        self.follows: list[int] = []          # per launch: what came right before (calibrate)
        self._previous = IDLE

    @property
    def in_flight(self) -> int:
        return len(self.queue)

    def now(self) -> float:
        return worker.clock() - self.t0

    def launch(self, it: Iteration) -> None:
        self.follows.append(self._previous)
        self._previous = LAUNCH
        y = self.server.step(it, torch.tensor(it.input_ids, dtype=torch.long))
        if self.p == 1:
            self.queue.append((it, y.tolist()))
            return
        acked = (self.queue[0][0].index if self.queue else it.index) - 1   # results all back up to here
        self.server.send(self.wire.work(it, acked, y), 1, TAG_WORK, it.index)
        self.queue.append((it, None))
        self.last_message = time.perf_counter()

    def wait_oldest(self) -> tuple[Iteration, list[int]]:
        it, tokens = self.queue.popleft()
        if tokens is None:
            msg = self.result.wait()
            self.result = self.wire.post_result(self.p - 1)
            tokens = self.wire.tokens(msg)
            self.server.prune_sends(it.index)    # its result is back: every hop of it was received
        self._previous = it.index
        return it, tokens

    def idle_until(self, t: float) -> None:
        self._previous = IDLE
        heartbeat_s = HEARTBEAT_SHARE * worker.op_timeout_s()
        time.sleep(max(0.0, min(t - self.now(), heartbeat_s / 4)))
        if self.p > 1 and time.perf_counter() - self.last_message > heartbeat_s:
            self.server.send(self.wire.control(HEARTBEAT), 1, TAG_WORK, len(self.follows))
            self.last_message = time.perf_counter()

    def close(self, issued: int) -> None:
        """Send STOP round the ring and wait for its echo: every stage has left its loop."""
        if self.p == 1:
            return
        self.server.send(self.wire.control(STOP), 1, TAG_WORK, issued)
        echo = self.result.wait()
        if self.wire.code(echo) != STOP:
            raise RuntimeError(f"expected the STOP echo, got {self.wire.tokens(echo)}")
