"""What one iteration of a slot carries: which requests, how many tokens each (``plan_iteration``),
and what the driver knows about a request while it is served (``RequestState``).

The scheduler (``ppedu.serving.scheduler``) owns the queues, slots and KV blocks and calls
``plan_iteration`` with them; this module knows nothing of the scheduler.

Sarathi-Serve's stall-free batching (Agrawal et al., OSDI'24, §4.2-4.3), with vLLM's paged KV
cache (Kwon et al., SOSP'23, §4.5) underneath:
  1. every running decode of the slot, one token each -- decodes never wait for a prompt;
  2. then the prompts already started (chunked prefill), then new requests (FCFS, when the
     policy admits), each fed as many prompt tokens as the token budget still allows;
  3. every request needs KV blocks for the tokens it is about to store. If none are free, the
     slot's newest request is preempted: its blocks are freed, it goes back to the front of the
     queue and, readmitted, recomputes its KV from prompt + tokens generated so far
     (vLLM's recomputation). Only requests of this slot are preempted: the others may have an
     iteration in the pipeline.
Without a token budget every request feeds its whole remaining prompt at once (no chunking).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from ppedu.serving.blocks import BlockManager
from ppedu.serving.workload import Request


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
    preemptions: int = 0

    @property
    def known(self) -> list[int]:
        """Every token the model has seen or made: the prompt, then the generated tokens."""
        return list(self.request.prompt) + self.generated

    @property
    def todo(self) -> int:
        """Tokens still to feed before the next token can be sampled (1 while decoding)."""
        return self.request.prompt_len + len(self.generated) - self.fed

    @property
    def decoding(self) -> bool:
        """Past its prompt: feeds one token (its last) per iteration."""
        return bool(self.generated) and self.todo == 1

    @property
    def done(self) -> bool:
        return len(self.generated) >= self.request.output_len


Plan = list[tuple[RequestState, int]]


def plan_iteration(running: list[RequestState], waiting: deque[RequestState], blocks: BlockManager,
                   config, slot: int, may_admit: bool, now: float) -> tuple[Plan, list[RequestState]]:
    """([(request, tokens to feed)] for the next iteration of ``slot``, whose batch is
    ``running``, with their blocks allocated ([] if none); the requests it preempted). Admitted
    requests move from ``waiting`` to ``running``, preempted ones back to the front of
    ``waiting``. ``config``: the scheduler's ``BatchingConfig`` (token budget, max batch)."""
    budget = config.token_budget or math.inf
    plan: Plan = []
    preempted: list[RequestState] = []
    for state in sorted(running, key=lambda s: not s.decoding):     # decodes first (stable sort)
        n = min(state.todo, budget)
        if n <= 0 or not any(s is state for s in running):          # no budget left / preempted
            continue
        while not blocks.can_allocate(state.request.rid, state.fed + n):
            victim = _newest_unplanned(running, plan)
            _preempt(running, waiting, blocks, victim)
            preempted.append(victim)
            if victim is state:
                break
        else:
            blocks.allocate(state.request.rid, state.fed + n)
            plan.append((state, n))
            budget -= n
    may_admit = may_admit and not preempted                          # memory is short: admit nobody
    while may_admit and waiting and len(running) < config.max_batch and budget > 0:
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


def _newest_unplanned(running: list[RequestState], plan: Plan) -> RequestState:
    """The most recently admitted request of the slot that is not in the plan yet (vLLM preempts
    the lowest-priority one: the last to arrive)."""
    planned = {id(s) for s, _ in plan}
    return next(s for s in reversed(running) if id(s) not in planned)


def _preempt(running: list[RequestState], waiting: deque[RequestState], blocks: BlockManager,
             state: RequestState) -> None:
    """Free ``state``'s blocks and requeue it first; its generated tokens stay and are
    recomputed as part of its prompt."""
    running.remove(state)
    blocks.free(state.request.rid)
    state.fed, state.slot = 0, -1
    state.preemptions += 1
    waiting.appendleft(state)
