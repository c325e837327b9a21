"""Discrete-event simulation of the serving pipeline: the same Scheduler and loop, fake time.

The real server (``ppedu.serving.server``) runs on a CPU with a few ranks and a few hundred
requests; the simulator answers "what about 8 stages and 5,000 requests?" in a second. It is
trustworthy because it shares the parts that matter: the very same ``Scheduler`` decides every
batch, the very same loop (``ppedu.serving.driver.drive``) issues, waits and idles, and one
timing model (``SimPipe.launch``) prices every stage step with ``ServingCost.step_s``:

    stage 0 starts an iteration when the driver issues it (the driver runs stage 0);
    stage s > 0 starts it when it is free and stage s-1 has handed it over (+ t_hop_s);
    its tokens reach the driver t_return_s after the last stage finished;
    the driver's own work per iteration (schedule, pack, send) costs t_driver_s.

Stages run iterations in issue order (FIFO), as the real ones do.
"""

from __future__ import annotations

import random
from collections import deque

from ppedu.serving.cost import ServingCost
from ppedu.serving.driver import drive
from ppedu.serving.metrics import ServingResult, slot_event
from ppedu.serving.overheads import OverheadSamples
from ppedu.serving.scheduler import BatchingConfig, Iteration, Scheduler, check_pipeline
from ppedu.schedules.timeline import Event, Timeline
from ppedu.serving.workload import Request


class SimPipe:
    """A p-stage pipeline on a fake clock; records the Events a real run would measure.

    ``jitter`` (optional): a real run's measured samples of each overhead (``OverheadSamples``,
    ``ppedu.serving.calibrate.overhead_samples``). Each use then draws one
    (seeded) instead of paying the mean: on a loaded machine message times vary, and a wait is a
    max(), so the mean of the delays underestimates the mean wait (Jensen's inequality)."""

    def __init__(self, p: int, cost: ServingCost, jitter: OverheadSamples | None = None,
                 seed: int = 0):
        self.p, self.cost = p, cost
        self.jitter = jitter or OverheadSamples()
        self.rng = random.Random(seed)
        self.clock = 0.0
        self.stage_free = [0.0] * p                  # when each stage finishes its current work
        self.results: deque[tuple[float, Iteration]] = deque()   # (tokens back at, iteration)
        self.events: list[Event] = []

    @property
    def in_flight(self) -> int:
        return len(self.results)

    def now(self) -> float:
        return self.clock

    def _draw(self, samples: list[float], mean: float) -> float:
        return max(0.0, self.rng.choice(samples)) if samples else mean

    def launch(self, it: Iteration) -> None:
        end = self.clock                                 # stage 0 starts now: no hand-over
        for s in range(self.p):
            hop = self._draw(self.jitter.hop_s, self.cost.t_hop_s) if s > 0 else 0.0
            start = max(self.stage_free[s], end + hop)
            step = self.cost.step_s(it.tokens) + self._draw(self.jitter.late_s, self.cost.t_late_s)
            end = self.stage_free[s] = start + step
            self.events.append(slot_event(s, it.kind, it.slot, start, end))
        self.results.append((end + self._draw(self.jitter.return_s, self.cost.t_return_s), it))
        self.clock = self.stage_free[0] + self._draw(self.jitter.driver_s, self.cost.t_driver_s)

    def wait_oldest(self) -> tuple[Iteration, list[int]]:
        ready, it = self.results.popleft()
        self.clock = max(self.clock, ready)
        return it, [0] * len(it.rids)                    # no model: the tokens are dummies

    def idle_until(self, t: float) -> None:
        self.clock = max(self.clock, t)


def simulate_serving(requests: list[Request], config: BatchingConfig, p: int,
                     cost: ServingCost | None = None, max_len: int | None = None,
                     jitter: OverheadSamples | None = None, seed: int = 0) -> ServingResult:
    """Serve ``requests`` on a simulated p-stage pipeline; same metrics as a measured run.
    ``jitter``: measured overhead samples to draw from, with ``seed`` (see SimPipe)."""
    check_pipeline(requests, config, p, simulated=True)
    cost = cost or ServingCost()
    sched = Scheduler(requests, config, max_len)
    pipe = SimPipe(p, cost, jitter, seed)
    drive(sched, pipe)
    return ServingResult.of(sched, p=p, source="simulated", timeline=Timeline(pipe.events, p),
                            cost=cost)
