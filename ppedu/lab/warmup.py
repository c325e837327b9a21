"""Exercise 3 of the lab: 1F1B with one warm-up forward more, and one fewer, than p - r - 1.

``warmup_study`` runs 1F1B and the student's variants twice: on the timed workload (a bubble worth
measuring) and on the model (are the gradients still right?). It also simulates each *recorded*
order on an ideal machine (``ppedu.schedules.simulator``, same t_f and t_b), which is the referee for
"did the bubble go up": the measurement shows the same thing, plus this machine's noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ppedu.lab.grader import LabResult, grade, measure
from ppedu.schedules.actions import Schedule
from ppedu.schedules.simulator import CostModel, simulate


@dataclass
class WarmupStudy:
    """Per variant (``1f1b``, then the student's names): timed run, simulated bubble, correctness."""
    p: int
    m: int
    timed: dict[str, LabResult] = field(default_factory=dict)
    simulated_bubble: dict[str, float] = field(default_factory=dict)
    grad_max_abs_diff: dict[str, float | None] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def warmup_study(variants: dict[str, Callable], p: int = 2, m: int = 4, tf_ms: float = 20.0,
                 cluster=None) -> WarmupStudy:
    """Measure 1F1B and each ``variants[name]`` (a ``train_step(stage)``); never raises for them."""
    from ppedu.training.loops import train_step_1f1b
    study = WarmupStudy(p, m)
    for name, fn in {"1f1b": train_step_1f1b, **variants}.items():
        timed = measure(fn, p, m, "timed", schedule="1f1b", cluster=cluster, tf_ms=tf_ms, tb_ms=2 * tf_ms)
        study.timed[name] = timed
        broken = timed.failure or next((f"rank {r['rank']}: {r['detail']}" for r in timed.reports
                                        if r["status"] != "ok"), None)
        if broken:
            study.failures[name] = broken
            continue
        orders = Schedule(name, p, m, 1, timed.orders)
        study.simulated_bubble[name] = simulate(orders, CostModel(t_f=1.0, t_b=2.0)).bubble_fraction
        study.grad_max_abs_diff[name] = grade(fn, "1f1b", p, m, "model", cluster=cluster).result.grad_max_abs_diff
    return study
