"""What one iteration of a slot carries: which requests, how many tokens each (``plan_iteration``).

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

from ppedu.serving.scheduler import RequestState, Scheduler


def plan_iteration(sched: Scheduler, slot: int, may_admit: bool, now: float) -> list[tuple[RequestState, int]]:
    """[(request, tokens to feed)] for ``slot``'s next iteration, blocks allocated; [] if none."""
    budget = sched.config.token_budget or math.inf
    running = sched.running[slot]
    plan: list[tuple[RequestState, int]] = []
    preempted = sched.preemptions
    for state in sorted(running, key=lambda s: not s.decoding):     # decodes first (stable sort)
        n = min(state.todo, budget)
        if n <= 0 or not any(s is state for s in running):          # no budget left / preempted
            continue
        while not sched.blocks.can_allocate(state.request.rid, state.fed + n):
            victim = _newest_unplanned(running, plan)
            _preempt(sched, slot, victim)
            if victim is state:
                break
        else:
            sched.blocks.allocate(state.request.rid, state.fed + n)
            plan.append((state, n))
            budget -= n
    may_admit = may_admit and sched.preemptions == preempted        # memory is short: admit nobody
    while may_admit and sched.waiting and len(running) < sched.config.max_batch and budget > 0:
        state = sched.waiting[0]
        n = min(state.todo, budget)
        if not sched.blocks.can_allocate(state.request.rid, n):    # FCFS: nobody overtakes
            break
        sched.waiting.popleft()
        state.slot, state.admitted_s = slot, now
        running.append(state)
        sched.blocks.allocate(state.request.rid, n)
        plan.append((state, n))
        budget -= n
    return plan


def _newest_unplanned(running: list[RequestState], plan: list[tuple[RequestState, int]]) -> RequestState:
    """The most recently admitted request of the slot that is not in the plan yet (vLLM preempts
    the lowest-priority one: the last to arrive)."""
    planned = {id(s) for s, _ in plan}
    return next(s for s in reversed(running) if id(s) not in planned)


def _preempt(sched: Scheduler, slot: int, state: RequestState) -> None:
    """Free ``state``'s blocks, drop its KV (stages free it with the next iteration), requeue it
    first; its generated tokens stay and are recomputed as part of its prompt."""
    sched.running[slot].remove(state)
    sched.blocks.free(state.request.rid)
    sched.to_release.append(state.request.rid)
    state.fed, state.slot = 0, -1
    state.preemptions += 1
    sched.preemptions += 1
    sched.waiting.appendleft(state)
