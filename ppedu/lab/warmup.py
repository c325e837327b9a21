"""Exercise 3 of the lab: 1F1B with one warm-up forward more, and one fewer, than p - r - 1.

``warmup_study`` runs 1F1B and the student's variants twice: on the timed workload (a bubble worth
measuring) and on the model (are the gradients still right?). It also simulates each *recorded*
order on an ideal machine (``ppedu.schedules.simulator``, same t_f and t_b), which is the referee for
"did the bubble go up": the measurement shows the same thing, plus this machine's noise.

Before any prediction is judged, each variant must have run the warm-up it was given (``more``:
p - r, ``less``: p - r - 2, clamped to 0..m): a ``one_f_one_b`` that ignores its ``warmup``
argument runs plain 1F1B, and a prediction graded on it would reward the wrong lesson.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ppedu.lab import diagnose
from ppedu.lab.grader import LabResult, _gradient_problem, measure
from ppedu.schedules.actions import Action, Schedule
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.training.loops import train_step_1f1b
from ppedu.i18n.messages import _

OFFSETS = {"more": 1, "less": -1}   # the notebook's variants: warm-up p - r - 1 plus this


@dataclass
class WarmupStudy:
    """Per variant (``1f1b``, then the student's names): timed run, simulated bubble, correctness."""
    p: int
    m: int
    timed: dict[str, LabResult] = field(default_factory=dict)
    simulated_bubble: dict[str, float] = field(default_factory=dict)
    grad_max_abs_diff: dict[str, float | None] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def warmup_order(m: int, warmup: int) -> list[Action]:
    """One rank's 1F1B order with this warm-up (clamped to 0..m): the exercise's loop."""
    w = max(0, min(warmup, m))
    steady = [a for i in range(m - w) for a in (Action("F", w + i), Action("B", i))]
    return [Action("F", k) for k in range(w)] + steady + [Action("B", k) for k in range(m - w, m)]


def warmup_study(variants: dict[str, Callable], p: int = 2, m: int = 4, tf_ms: float = 20.0,
                 cluster=None) -> WarmupStudy:
    """Measure 1F1B and each ``variants[name]`` (a ``train_step(stage)``); never raises for them."""
    study = WarmupStudy(p, m)
    for name, fn in {"1f1b": train_step_1f1b, **variants}.items():
        timed = measure(fn, p, m, "timed", schedule="1f1b", cluster=cluster, tf_ms=tf_ms, tb_ms=2 * tf_ms)
        study.timed[name] = timed
        broken = timed.failure or diagnose.run_failure(timed.reports, timed.spec.deadlock_s) \
            or wrong_warmup(name, timed.orders, p, m)
        if broken:
            study.failures[name] = broken
            continue
        orders = Schedule(name, p, m, 1, timed.orders)
        study.simulated_bubble[name] = simulate(orders, CostModel(t_f=1.0, t_b=2.0)).bubble_fraction
        study.grad_max_abs_diff[name] = _gradient_diff(fn, p, m, cluster)
    return study


def _gradient_diff(fn: Callable, p: int, m: int, cluster) -> float | None:
    """Largest |gradient - single-process gradient| of one model run (None: it did not run through)."""
    model = measure(fn, p, m, "model", schedule="1f1b", cluster=cluster)
    if model.failure or any(r.status != "ok" for r in model.reports):
        return None
    _gradient_problem(model)
    return model.grad_max_abs_diff


def wrong_warmup(name: str, orders: list[list[Action]], p: int, m: int) -> str | None:
    """None when variant ``name`` ran 1F1B with the warm-up it was given on every rank (or is not
    one of the notebook's variants); else which rank ran what instead, without the answer."""
    if name not in OFFSETS:
        return None
    for rank, got in enumerate(orders):
        given = p - rank - 1 + OFFSETS[name]
        if got == warmup_order(m, given):
            continue
        like = next((w for w in range(m + 1) if got == warmup_order(m, w)), None)
        ran = (_("its order is the one of warm-up {like}").format(like=like) if like is not None else
               _("its order is no 1F1B order (warm-up forwards, then one forward and one backward in "
                 "turn, then the backwards left)"))
        return _("rank {rank} did not run the warm-up it was given (p - r - 1 {sign} 1 = {given}, clamped to "
                 "0..m): {ran}. Does one_f_one_b use its `warmup` argument for the warm-up and the steady "
                 "state?").format(rank=rank, sign="+" if OFFSETS[name] > 0 else "-", given=given, ran=ran)
    return None
