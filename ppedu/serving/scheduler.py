"""Which requests run together, and when: the driver-side scheduler of a serving pipeline.

Pure Python, no ranks, no torch: the real pipe (``ppedu.serving.server``) and the simulated one
(``ppedu.serving.simulator``) drive the very same object through the very same loop
(``ppedu.serving.driver.drive``), so a policy behaves identically in both.

Read top-down:
  BatchingConfig  policy, max batch, K batches in flight, token budget, KV blocks
  check_pipeline  what a p-stage pipeline needs of the config and the requests (each entry point)
  Iteration       one pass of one batch through all p stages: a chunk of tokens per request
  Scheduler       arrivals -> waiting queue -> K slots; ``schedule(slot, now)`` / ``complete(...)``;
                  ``_plan`` fills one iteration of a slot (below), ``_preempt`` makes room

The three policies only differ in *when a waiting request may join a slot's batch*:
  static      only when the slot is empty AND a full batch is waiting (or no more requests will
              come); the batch then runs until its longest request is done.
  dynamic     (Triton's dynamic batcher) only when the slot is empty AND (a full batch is
              waiting OR the oldest request has waited ``max_queue_delay_s``); runs to completion.
  continuous  (Orca's iteration-level scheduling, vLLM's continuous batching) before *every*
              iteration: finished requests have left, waiting ones join up to ``max_batch``.

An iteration's tokens (``Scheduler._plan``): Sarathi-Serve's stall-free batching (Agrawal et al.,
OSDI'24, §4.2-4.3) over vLLM's paged KV cache (Kwon et al., SOSP'23, §4.5):
  1. every running decode of the slot, one token each -- decodes never wait for a prompt;
  2. then the prompts already started (chunked prefill), then new requests (FCFS, when the
     policy admits), each fed as many prompt tokens as the token budget still allows (no
     budget: whole prompts);
  3. every request needs KV blocks for the tokens it is about to store. If none are free, the
     slot's newest request is preempted: its blocks are freed, it goes back to the front of the
     queue and, readmitted, recomputes its KV from prompt + tokens generated so far (vLLM's
     recomputation). Only requests of this slot are preempted: the others may have an
     iteration in the pipeline.

In-flight batches (``inflight = K``): K slots, each holding its own batch of *disjoint* requests
(Orca §4.2, vLLM V1's batch queue of ``max_concurrent_batches = pp_size``, SGLang's PP
micro-batches, Sarathi-Serve's micro-batches). A slot has at most one iteration in the pipeline:
its next iteration needs the tokens its last one produced (autoregression).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from ppedu.errors import UsageError, check_choice, check_float, check_int
from ppedu.i18n.messages import _
from ppedu.serving.blocks import BlockManager, blocks_for
from ppedu.serving.workload import Request, RequestState

POLICIES = ("static", "dynamic", "continuous")
# How deep a pipeline may be, per kind of run (each entry point checks p against these, through
# check_pipeline): real ranks are a process and a model stage each, so the limit is what one node
# runs in seconds (as ppedu.training.config.MAX_P); a simulated stage is bookkeeping on a fake
# clock, so 1024 stages and thousands of requests still simulate in seconds.
MAX_RANKS, MAX_SIMULATED_STAGES = 16, 1024
MAX_QUEUE_DELAY_S = 3600.0


@dataclass(frozen=True)
class BatchingConfig:
    """How the scheduler forms batches. ``max_batch`` is per slot: K slots run up to K*max_batch
    requests at once. ``kv_blocks`` None: as many blocks as the whole workload could need."""
    policy: str = "continuous"
    max_batch: int = 8
    inflight: int = 1
    max_queue_delay_s: float = 0.02       # dynamic only (Triton: max_queue_delay_microseconds)
    token_budget: int | None = None       # new tokens per iteration (prompt chunks + 1 per decode)
    kv_blocks: int | None = None          # KV memory per stage, in blocks
    block_size: int = 16                  # tokens per block (vLLM's default)

    def __post_init__(self):
        check_choice("policy", self.policy, POLICIES)
        check_int("max_batch", self.max_batch, 1, 4096)
        # at most p, once p is known (check_pipeline); here: at most the deepest pipeline
        check_int("inflight", self.inflight, 1, MAX_SIMULATED_STAGES)
        check_float("max_queue_delay_s", self.max_queue_delay_s, 0.0, MAX_QUEUE_DELAY_S)
        if self.token_budget is not None:   # every running decode must fit: no decode ever stalls
            check_int("token_budget", self.token_budget, self.max_batch, 1 << 20)
        if self.kv_blocks is not None:
            check_int("kv_blocks", self.kv_blocks, 1, 1 << 24)
        check_int("block_size", self.block_size, 1, 4096)


def check_pipeline(requests: list[Request], config: BatchingConfig, p: int, inflight_name: str = "inflight",
                   *, simulated: bool = False, p_name: str = "p") -> int:
    """What a ``p``-stage pipeline (real ranks, or ``simulated``) needs of itself, of ``config``
    and of ``requests``: the one check each entry point makes before any rank starts; returns p.
    K <= p: a slot's next iteration needs the tokens of its last one, so at most one iteration per
    stage can be in flight. ``inflight_name``, ``p_name``: how the entry point calls them."""
    p = check_int(p_name, p, 1, MAX_SIMULATED_STAGES if simulated else MAX_RANKS)
    check_int(inflight_name, config.inflight, 1, p)
    kv_blocks(requests, config)
    return p


def kv_blocks(requests: list[Request], config: BatchingConfig) -> int:
    """KV blocks per stage: ``config.kv_blocks``, which must hold the longest request on its own,
    or (None) as many as the whole workload could need."""
    if not requests:
        raise UsageError(_("requests must hold at least one request (got none)"))
    longest = blocks_for(max(r.prompt_len + r.output_len for r in requests), config.block_size)
    if config.kv_blocks is not None and config.kv_blocks < longest:
        raise UsageError(_("kv_blocks must be at least {longest}, the blocks of the longest request (got {n})").format(
            longest=longest, n=config.kv_blocks))
    return config.kv_blocks or sum(blocks_for(r.prompt_len + r.output_len, config.block_size)
                                   for r in requests)


@dataclass
class Iteration:
    """One pass of a slot's batch through all stages. Request ``rids[i]`` feeds ``lengths[i]``
    tokens at positions ``positions[i]..``: a prompt chunk, or its last token (a decode)."""
    index: int                  # issue order (stages see iterations in this order: FIFO)
    slot: int
    rids: list[int]
    positions: list[int]
    lengths: list[int]
    input_ids: list[int]        # all new tokens back to back (sum(lengths))
    released: list[int]         # finished or preempted since the last iteration: stages free them
    issued_s: float
    prefill_tokens: int = 0     # tokens of prompt chunks (the rest are decodes, one each)

    @property
    def tokens(self) -> int:
        return sum(self.lengths)

    @property
    def kind(self) -> str:
        """``prefill`` if it carries any prompt chunk (Orca mixes them with decodes), else ``decode``."""
        return "prefill" if self.prefill_tokens else "decode"


class Scheduler:
    """Arrivals -> FCFS waiting queue -> K slots. The driver loop calls:

    ``issue(now)``: the next Iteration for the first free slot with work, or None;
    ``complete(iteration, tokens, now)`` when that iteration's tokens came back;
    ``next_event_s(now)``: when waiting could change something without a result (an arrival or
    a dynamic-batching deadline), so the driver knows how long it may idle.
    """

    def __init__(self, requests: list[Request], config: BatchingConfig, max_len: int | None = None):
        if len({r.rid for r in requests}) != len(requests):
            raise UsageError(_("request ids must be unique"))
        self.config = config
        self.max_len = max_len or max(r.prompt_len + r.output_len for r in requests)
        self.blocks = BlockManager(kv_blocks(requests, config), config.block_size)
        self.pending = deque(sorted(requests, key=lambda r: (r.arrival_s, r.rid)))   # not arrived
        self.waiting: deque[RequestState] = deque()          # arrived, not in a batch yet
        self.running: list[list[RequestState]] = [[] for _ in range(config.inflight)]
        self.in_flight = [False] * config.inflight            # slot has an iteration in the pipe
        self.states = {r.rid: RequestState(r) for r in requests}
        self.to_release: list[int] = []
        self.occupancy: list[tuple[float, int, int]] = []    # (issued_s, slot, batch size)
        self.iteration_tokens: list[int] = []                 # tokens each iteration carried
        self.kv_samples: list[tuple[int, int, int]] = []     # (blocks used, tokens stored, max-length reserve)
        self.preemptions = 0
        self.issued = 0
        self.n_unfinished = sum(r.output_len > 0 for r in requests)

    # -- queries ------------------------------------------------------------------------------
    def finished(self) -> bool:
        return self.n_unfinished == 0

    def issue(self, now: float) -> Iteration | None:
        """The next iteration to start: the first free slot that has work (None if none has)."""
        for slot, busy in enumerate(self.in_flight):
            if not busy:
                it = self.schedule(slot, now)
                if it is not None:
                    return it
        return None

    def next_event_s(self, now: float) -> float | None:
        """Earliest future time at which ``schedule`` could answer differently (None: only a
        result can change anything)."""
        self.poll(now)
        times = []
        if self.pending:
            times.append(self.pending[0].arrival_s)
        if self.config.policy == "dynamic" and self.waiting:
            deadline = self.waiting[0].request.arrival_s + self.config.max_queue_delay_s
            if deadline > now:
                times.append(deadline)
        return min(times) if times else None

    def poll(self, now: float) -> None:
        """Move requests that have arrived by ``now`` into the waiting queue."""
        while self.pending and self.pending[0].arrival_s <= now:
            self.waiting.append(self.states[self.pending.popleft().rid])

    # -- schedule: who runs, how many tokens each -------------------------------------------------
    def schedule(self, slot: int, now: float) -> Iteration | None:
        """Form the next iteration of ``slot`` (which must be free), or None if it has no work."""
        if self.in_flight[slot]:
            raise UsageError(_("slot {slot} already has an iteration in the pipeline").format(slot=slot))
        self.poll(now)
        may_admit = self.config.policy == "continuous" or (not self.running[slot] and self._batch_ready(now))
        plan, preempted = self._plan(slot, may_admit, now)
        self.preemptions += len(preempted)
        self.to_release += [s.request.rid for s in preempted]   # stages free their KV next iteration
        if not plan:
            return None
        chunks = [s.known[s.fed:s.fed + n] for s, n in plan]
        it = Iteration(index=self.issued, slot=slot, rids=[s.request.rid for s, _ in plan],
                       positions=[s.fed for s, _ in plan], lengths=[n for _, n in plan],
                       input_ids=[t for chunk in chunks for t in chunk], released=self.to_release,
                       issued_s=now, prefill_tokens=sum(n for s, n in plan if not s.decoding))
        self.to_release = []
        self.issued += 1
        self.in_flight[slot] = True
        self.occupancy.append((now, slot, len(plan)))
        self.iteration_tokens.append(it.tokens)
        reserve = sum(blocks_for(self.max_len, self.config.block_size) for run in self.running for _ in run)
        self.kv_samples.append((self.blocks.used, self.blocks.stored_tokens(), reserve))
        return it

    def _plan(self, slot: int, may_admit: bool, now: float) -> tuple[Plan, list[RequestState]]:
        """([(request, tokens to feed)] for the next iteration of ``slot``, with their blocks
        allocated ([] if none); the requests it preempted. Admitted requests move from the waiting
        queue to the slot's batch, preempted ones back to the front of the queue."""
        running, waiting, blocks = self.running[slot], self.waiting, self.blocks
        budget = self.config.token_budget or math.inf
        plan: Plan = []
        preempted: list[RequestState] = []
        for state in sorted(running, key=lambda s: not s.decoding):     # decodes first (stable sort)
            n = min(state.todo, budget)
            if n <= 0 or not any(s is state for s in running):          # no budget left / preempted
                continue
            while not blocks.can_allocate(state.request.rid, state.fed + n):
                victim = _newest_unplanned(running, plan)
                self._preempt(slot, victim)
                preempted.append(victim)
                if victim is state:
                    break
            else:
                blocks.allocate(state.request.rid, state.fed + n)
                plan.append((state, n))
                budget -= n
        may_admit = may_admit and not preempted                          # memory is short: admit nobody
        while may_admit and waiting and len(running) < self.config.max_batch and budget > 0:
            state = waiting[0]
            n = min(state.todo, budget)
            if not blocks.can_allocate(state.request.rid, n):           # FCFS: nobody overtakes
                break
            waiting.popleft()
            state.slot, state.admitted_s = slot, now
            running.append(state)
            blocks.allocate(state.request.rid, n)
            plan.append((state, n))
            budget -= n
        return plan, preempted

    def _preempt(self, slot: int, state: RequestState) -> None:
        """Free ``state``'s blocks and requeue it first; its generated tokens stay and are
        recomputed as part of its prompt."""
        self.running[slot].remove(state)
        self.blocks.free(state.request.rid)
        state.fed, state.slot = 0, -1
        state.preemptions += 1
        self.waiting.appendleft(state)

    def _batch_ready(self, now: float) -> bool:
        """static / dynamic: may an empty slot start a new batch now?"""
        if not self.waiting:
            return False
        if len(self.waiting) >= self.config.max_batch or not self.pending:  # full, or stream over
            return True
        if self.config.policy == "dynamic":
            return now >= self.waiting[0].request.arrival_s + self.config.max_queue_delay_s
        return False

    # -- complete: the tokens came back ---------------------------------------------------------
    def complete(self, it: Iteration, tokens: list[int], now: float) -> list[int]:
        """Record the tokens of ``it`` (one per request; a request whose prompt is not yet fully
        fed samples nothing); return the requests that just finished."""
        if len(tokens) != len(it.rids):
            raise UsageError(_("tokens must have one entry per request of iteration {index} ({want}), got {n}").format(
                index=it.index, want=len(it.rids), n=len(tokens)))
        finished = []
        for rid, n, token in zip(it.rids, it.lengths, tokens):
            state = self.states[rid]
            state.fed += n
            if state.todo > 0:                 # a prompt chunk: more of the prompt to come
                continue
            state.generated.append(int(token))
            if state.first_token_s is None:
                state.first_token_s = now
            if state.done:
                state.finish_s = now
                finished.append(rid)
                self.n_unfinished -= 1
                self.blocks.free(rid)
        # Finished requests leave the batch now: under continuous batching their seats are
        # refilled next iteration; under static/dynamic the seats stay empty until all are done.
        self.running[it.slot] = [s for s in self.running[it.slot] if not s.done]
        self.to_release.extend(finished)
        self.in_flight[it.slot] = False
        return finished


Plan = list[tuple[RequestState, int]]     # (request, tokens it feeds) for one iteration


def _newest_unplanned(running: list[RequestState], plan: Plan) -> RequestState:
    """The most recently admitted request of the slot that is not in the plan yet (vLLM preempts
    the lowest-priority one: the last to arrive)."""
    planned = {id(s) for s, _ in plan}
    return next(s for s in reversed(running) if id(s) not in planned)
