"""Which requests run together, and when: the driver-side scheduler of a serving pipeline.

Pure Python, no ranks, no torch: the runtime (``ppedu.serving.server``) and the simulator
(``ppedu.serving.simulator``) drive the very same object, so a policy behaves identically in both.

Read top-down:
  BatchingConfig  policy, max batch, K batches in flight, queue delay, token budget
  Iteration       one forward pass of one batch through all p stages (prefills and/or decodes)
  Scheduler       arrivals -> waiting queue -> K slots; ``schedule(slot, now)`` / ``complete(...)``

The three policies only differ in *when a waiting request may join a slot's batch*:
  static      only when the slot is empty AND a full batch is waiting (or no more requests will
              come); the batch then runs until its longest request is done.
  dynamic     (Triton's dynamic batcher) only when the slot is empty AND (a full batch is
              waiting OR the oldest request has waited ``max_queue_delay_s``); runs to completion.
  continuous  (Orca's iteration-level scheduling) before *every* iteration: finished requests
              have left, waiting ones join up to ``max_batch`` requests / ``token_budget`` tokens.

In-flight batches (``inflight = K``): K slots, each holding its own batch of *disjoint* requests
(vLLM V1's batch queue of ``max_concurrent_batches = pp_size``, vLLM V0's virtual engines, SGLang's
pp micro-batch slots). A slot has at most one iteration in the pipeline: its next iteration needs
the tokens its last one produced (autoregression). With K = 1 only one stage can be busy at a time
-- the bubble is (p-1)/p; with K = p every stage has a batch to work on. This is *not* splitting
one batch into micro-batches: each slot is a batch of its own, continuously re-formed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ppedu.errors import UsageError, check_choice, check_float, check_int
from ppedu.serving.workload import Request

POLICIES = ("static", "dynamic", "continuous")


@dataclass(frozen=True)
class BatchingConfig:
    """How the scheduler forms batches. ``max_batch`` is per slot: K slots run up to K*max_batch."""
    policy: str = "continuous"
    max_batch: int = 8
    inflight: int = 1
    max_queue_delay_s: float = 0.02       # dynamic only (Triton: max_queue_delay_microseconds)
    token_budget: int | None = None       # continuous only: new tokens per iteration (prompts + 1/decode)

    def __post_init__(self):
        check_choice("policy", self.policy, POLICIES)
        check_int("max_batch", self.max_batch, 1, 4096)
        check_int("inflight", self.inflight, 1, 64)
        check_float("max_queue_delay_s", self.max_queue_delay_s, 0.0, 3600.0)
        if self.token_budget is not None:
            check_int("token_budget", self.token_budget, 1)


@dataclass
class RequestState:
    """What the driver knows about a request while it is served. Times count from the start."""
    request: Request
    slot: int = -1
    fed: int = 0                              # tokens in its KV cache (= its next position)
    generated: list[int] = field(default_factory=list)
    admitted_s: float | None = None
    first_token_s: float | None = None
    finish_s: float | None = None

    @property
    def done(self) -> bool:
        return len(self.generated) >= self.request.output_len


@dataclass
class Iteration:
    """One pass of a slot's batch through all stages. Request ``rids[i]`` feeds ``lengths[i]``
    tokens at positions ``positions[i]..``: its prompt (prefill, position 0) or its last token."""
    index: int                  # issue order (stages see iterations in this order: FIFO)
    slot: int
    rids: list[int]
    positions: list[int]
    lengths: list[int]
    input_ids: list[int]        # all new tokens back to back (sum(lengths))
    released: list[int]         # requests finished since the last iteration: stages free their caches
    issued_s: float

    @property
    def prefill_tokens(self) -> int:
        return sum(n for pos, n in zip(self.positions, self.lengths) if pos == 0)

    @property
    def kind(self) -> str:
        """``prefill`` if any request starts here (Orca mixes them with decodes), else ``decode``."""
        return "prefill" if 0 in self.positions else "decode"


class Scheduler:
    """Arrivals -> FCFS waiting queue -> K slots. The driver calls, in a loop:

    ``schedule(slot, now)`` for a free slot: an Iteration to run, or None (nothing to do yet);
    ``complete(iteration, tokens, now)`` when that iteration's tokens came back;
    ``next_event_s(now)``: when waiting could change something without a result (an arrival or
    a dynamic-batching deadline), so the driver knows how long it may sleep.
    """

    def __init__(self, requests: list[Request], config: BatchingConfig):
        self.config = config
        self.pending = deque(sorted(requests, key=lambda r: (r.arrival_s, r.rid)))   # not arrived
        if len({r.rid for r in requests}) != len(requests):
            raise UsageError("request ids must be unique")
        self.waiting: deque[RequestState] = deque()          # arrived, not in a batch yet
        self.running: list[list[RequestState]] = [[] for _ in range(config.inflight)]
        self.in_flight = [False] * config.inflight            # slot has an iteration in the pipe
        self.states = {r.rid: RequestState(r) for r in requests}
        self.to_release: list[int] = []
        self.occupancy: list[tuple[float, int, int]] = []    # (issued_s, slot, batch size)
        self.issued = 0
        self.n_unfinished = sum(r.output_len > 0 for r in requests)

    # -- queries ------------------------------------------------------------------------------
    def finished(self) -> bool:
        return self.n_unfinished == 0

    def free_slots(self) -> list[int]:
        return [k for k, busy in enumerate(self.in_flight) if not busy]

    def issue(self, now: float) -> Iteration | None:
        """The next iteration to start: the first free slot that has work (None if none has).
        The real driver and the simulator both call this, so they issue in the same order."""
        for slot in self.free_slots():
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

    # -- the two calls of the driver loop --------------------------------------------------------
    def poll(self, now: float) -> None:
        """Move requests that have arrived by ``now`` into the waiting queue."""
        while self.pending and self.pending[0].arrival_s <= now:
            self.waiting.append(self.states[self.pending.popleft().rid])

    def schedule(self, slot: int, now: float) -> Iteration | None:
        """Form the next iteration of ``slot`` (which must be free), or None if it has no work."""
        if self.in_flight[slot]:
            raise UsageError(f"slot {slot} already has an iteration in the pipeline")
        self.poll(now)
        running = self.running[slot]
        if self.config.policy == "continuous":
            self._admit_continuous(slot, now)
        elif not running and self._batch_ready(now):       # static / dynamic: only an empty slot
            self._admit(slot, min(self.config.max_batch, len(self.waiting)), now)
        if not running:
            return None
        prefill = [s.fed == 0 for s in running]
        new_tokens = [list(s.request.prompt) if p else [s.generated[-1]] for s, p in zip(running, prefill)]
        it = Iteration(index=self.issued, slot=slot, rids=[s.request.rid for s in running],
                       positions=[s.fed for s in running], lengths=[len(t) for t in new_tokens],
                       input_ids=[t for toks in new_tokens for t in toks],
                       released=self.to_release, issued_s=now)
        self.to_release = []
        self.issued += 1
        self.in_flight[slot] = True
        self.occupancy.append((now, slot, len(running)))
        return it

    def complete(self, it: Iteration, tokens: list[int], now: float) -> list[int]:
        """Record one new token per request of ``it``; return the requests that just finished."""
        if len(tokens) != len(it.rids):
            raise UsageError(f"tokens must have one entry per request of iteration {it.index} "
                             f"({len(it.rids)}), got {len(tokens)}")
        finished = []
        for rid, n, token in zip(it.rids, it.lengths, tokens):
            state = self.states[rid]
            state.fed += n
            state.generated.append(int(token))
            if state.first_token_s is None:
                state.first_token_s = now
            if state.done:
                state.finish_s = now
                finished.append(rid)
                self.n_unfinished -= 1
        # Finished requests leave the batch now: under continuous batching their seats are
        # refilled next iteration; under static/dynamic the seats stay empty until all are done.
        self.running[it.slot] = [s for s in self.running[it.slot] if not s.done]
        self.to_release.extend(finished)
        self.in_flight[it.slot] = False
        return finished

    # -- policies ---------------------------------------------------------------------------------
    def _batch_ready(self, now: float) -> bool:
        """static / dynamic: may an empty slot start a new batch now?"""
        if not self.waiting:
            return False
        if len(self.waiting) >= self.config.max_batch or not self.pending:  # full, or stream over
            return True
        if self.config.policy == "dynamic":
            return now >= self.waiting[0].request.arrival_s + self.config.max_queue_delay_s
        return False

    def _admit_continuous(self, slot: int, now: float) -> None:
        """FCFS joins while the batch has seats and the iteration stays within the token budget."""
        running = self.running[slot]
        budget = self.config.token_budget
        tokens = len(running)                                  # one new token per decoding request
        n = 0
        for state in self.waiting:
            if len(running) + n >= self.config.max_batch:
                break
            if budget is not None and tokens > 0 and tokens + state.request.prompt_len > budget:
                break                                          # FCFS: no overtaking
            tokens += state.request.prompt_len
            n += 1
        self._admit(slot, n, now)

    def _admit(self, slot: int, n: int, now: float) -> None:
        for _ in range(n):
            state = self.waiting.popleft()
            state.slot, state.admitted_s = slot, now
            self.running[slot].append(state)
