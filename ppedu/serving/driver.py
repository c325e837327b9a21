"""The serving loop, once: schedule -> run -> postprocess over a pipe, real or simulated.

    while requests are unfinished:
        it = scheduler.issue(now)        # schedule: a free slot with work gets an iteration
        if it:  pipe.launch(it)          # run: stage 0 computes it and hands it on
        elif pipe.in_flight:             # postprocess: block on the *oldest* iteration's tokens
            scheduler.complete(*pipe.wait_oldest())
        else:   pipe.idle_until(next arrival or dynamic-batching deadline)

This is vLLM V1's ``step_with_batch_queue`` (and nano-vllm's ``step``: schedule, run,
postprocess), with up to K iterations in the pipe. It blocks on the oldest because stages run
iterations first-in first-out, so tokens come back in issue order (and gloo cannot poll a receive).
A request arriving while the driver waits joins at the next result.

Two pipes implement it: ``ppedu.serving.server.RankPipe`` (rank 0 of real ranks: computes
stage 0, sends, receives the tokens) and ``ppedu.serving.simulator.SimPipe`` (a clock and the cost
model). Both see the same Scheduler calls in the same order.
"""

from __future__ import annotations

from typing import Protocol

from ppedu.serving.scheduler import Iteration, Scheduler


class Pipe(Protocol):
    """What the loop needs from a pipeline: a clock, launch, wait for the oldest, idle."""
    in_flight: int                                  # iterations launched, tokens not back yet

    def now(self) -> float: ...                     # seconds since the run started

    def launch(self, it: Iteration) -> None: ...    # stage 0 runs it; the rest follows on its own

    def wait_oldest(self) -> tuple[Iteration, list[int]]: ...   # block: oldest iteration's tokens

    def idle_until(self, t: float) -> None: ...     # nothing to do before ``t``


def drive(sched: Scheduler, pipe: Pipe) -> None:
    """Serve every request of ``sched`` through ``pipe``."""
    while not sched.finished():
        it = sched.issue(pipe.now())                       # 1. schedule
        if it is not None:
            pipe.launch(it)                                # 2. run (stage 0, then the others)
            continue
        if pipe.in_flight:
            done, tokens = pipe.wait_oldest()
            sched.complete(done, tokens, pipe.now())       # 3. postprocess: tokens, finished requests
            continue
        wake = sched.next_event_s(pipe.now())
        if wake is None:
            raise RuntimeError("serving stalled: no iteration in flight and nothing to wait for")
        pipe.idle_until(wake)                              # idle until an arrival / a deadline
