"""Discrete-event simulation of the serving pipeline: the same Scheduler, fake time.

The real server (``ppedu.serving.server``) runs on a CPU with a few ranks and a few hundred requests; the
simulator answers "what about 8 stages and 5,000 requests?" in a second. It is trustworthy because
it shares the parts that matter:
  * the very same ``ppedu.serving.scheduler.Scheduler`` decides every batch, and
  * the same driver loop: one new iteration for the first free slot with work, else block on
    the oldest in-flight iteration's tokens, else sleep until the next arrival / deadline;
  * stage timing comes from ``ppedu.schedules.simulator.run_task_lists``, the event core of the training
    schedule simulator: each stage runs iterations in issue order (FIFO) and starts one when the
    previous stage handed it over (+ ``t_hop_s``).

Read top-down: ServingCost (what a stage step costs), simulate_serving (the driver loop),
_timeline (replay the issued iterations through the generic core).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ppedu.serving.scheduler import BatchingConfig, Iteration, Scheduler
from ppedu.errors import check_float, check_int
from ppedu.serving.metrics import ServingResult
from ppedu.schedules.simulator import run_task_lists
from ppedu.schedules.timeline import Event, Timeline
from ppedu.serving.workload import Request


@dataclass(frozen=True)
class ServingCost:
    """Seconds one stage spends on one iteration, as a GPU would (the ``timed`` workload sleeps it).

    A decode step is memory-bound: reading the stage's weights dominates, so it costs about the
    same for 1 or 32 requests (``t_decode_s``; ``t_per_request_s`` adds a per-request term). A
    prefill is compute-bound: it costs per prompt token. ``t_hop_s`` is the simulator's price of one
    message between ranks (the real runtime pays whatever gloo costs).
    """
    t_decode_s: float = 0.010
    t_per_request_s: float = 0.0
    t_prefill_s: float = 0.0
    t_prefill_token_s: float = 0.0005
    t_hop_s: float = 0.0005

    def __post_init__(self):
        for name in ("t_decode_s", "t_per_request_s", "t_prefill_s", "t_prefill_token_s", "t_hop_s"):
            check_float(name, getattr(self, name), 0.0, 60.0)

    def step_s(self, n_requests: int, prefill_tokens: int) -> float:
        """One stage, one iteration of ``n_requests`` requests holding ``prefill_tokens`` prompt tokens."""
        t = self.t_decode_s + self.t_per_request_s * n_requests
        if prefill_tokens:
            t += self.t_prefill_s + self.t_prefill_token_s * prefill_tokens
        return t


def simulate_serving(requests: list[Request], config: BatchingConfig, p: int,
                     cost: ServingCost | None = None) -> ServingResult:
    """Serve ``requests`` on a simulated p-stage pipeline; same metrics as a measured run."""
    check_int("p", p, 1, 1024)
    check_int("inflight", config.inflight, 1, p)
    cost = cost or ServingCost()
    hop = cost.t_hop_s if p > 1 else 0.0
    sched = Scheduler(requests, config)
    stage_free = [0.0] * p                        # when each stage finishes its current work
    results: deque[tuple[float, Iteration]] = deque()   # tokens reach the driver FIFO
    launches: list[tuple[Iteration, float, float]] = []  # (iteration, start on stage 0, step time)
    now = 0.0
    while not sched.finished():
        it = sched.issue(now)                                      # 1. start one iteration
        if it is not None:
            step = cost.step_s(len(it.rids), it.prefill_tokens)
            end = now
            for s in range(p):                                 # FIFO stages, hand-over costs a hop
                start = now if s == 0 else max(stage_free[s], end + hop)
                end = stage_free[s] = start + step
            results.append((end + hop, it))                    # the tokens travel back to stage 0
            launches.append((it, now, step))
            now = stage_free[0]                                # the driver computed stage 0
            continue
        if results:                                            # 2. block on the oldest result
            ready, done = results.popleft()
            now = max(now, ready)
            sched.complete(done, [0] * len(done.rids), now)    # no model: the tokens are dummies
            continue
        wake = sched.next_event_s(now)                         # 3. idle until an arrival/deadline
        if wake is None:
            raise RuntimeError("serving simulation stalled: nothing in flight and nothing to wait for")
        now = max(now, wake)
    timeline = _timeline(launches, p, hop)
    return ServingResult(config=config, p=p, source="simulated", states=list(sched.states.values()),
                         timeline=timeline, occupancy=sched.occupancy,
                         extra={"cost": cost.__dict__})


def _timeline(launches: list[tuple[Iteration, float, float]], p: int, hop: float) -> Timeline:
    """Replay the issued iterations through the generic event core of ``ppedu.schedules.simulator``.

    Task ``(i, s)`` is iteration i on stage s. Stage 0 may start iteration i at its launch time
    (expressed as a delay after a zero-length task at t=0); stage s > 0 needs stage s-1's output.
    """
    launch = {it.index: (t, step) for it, t, step in launches}
    order = [it.index for it, _, _ in launches]
    tasks = [[("t0",)] + [(i, 0) for i in order]] + [[(i, s) for i in order] for s in range(1, p)]

    def duration(rank: int, task: tuple) -> float:
        return 0.0 if task == ("t0",) else launch[task[0]][1]

    def dependencies(rank: int, task: tuple) -> list:
        if task == ("t0",):
            return []
        i, s = task
        return [(("t0",), launch[i][0])] if s == 0 else [((i, s - 1), hop)]

    done = run_task_lists(tasks, duration, dependencies)
    by_index = {it.index: it for it, _, _ in launches}
    events = [Event(rank, by_index[task[0]].kind, by_index[task[0]].slot, 0, start, end)
              for task, (rank, start, end) in done.items() if task != ("t0",)]
    return Timeline(events, p)
