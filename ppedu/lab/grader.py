"""Run a student's ``train_step(stage)`` on the warm cluster's real ranks and grade it.

    result = measure(train_step, p=2, m=4, workload="timed")       # run + measure, no verdict
    verdict = grade(train_step, schedule="1f1b", p=2, m=4)         # Grade(ok, message, result)
    assert verdict.ok, verdict.message

``grade`` never raises for a student's bug: a deadlock, an exception, a wrong order or wrong
gradients all come back as ``ok=False`` with a message in plain words. Bad *parameters* of the
call itself (p=99) are a ``UsageError``, as everywhere in ppedu.

With p = 2 every rank is the first or the last, and bugs of the ranks in between (a gradient
passed on instead of backward's, a warm-up that is only right on rank 0) cannot show. So ``grade``
with p < 3 also grades on ``GRADE_P`` = 4 ranks, and says so; ``result`` stays the run at p (the
pictures). One warm cluster of ``GRADE_P`` ranks serves both: a p-rank attempt runs on its first p.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, fields

import cloudpickle

from ppedu.errors import ClusterError, check_choice, check_names
from ppedu.lab import diagnose
from ppedu.lab.job import LabReport, lab_job
from ppedu.lab.reference import expected_parameter_names, per_microbatch_gradients
from ppedu.lab.stage import LabSpec, is_passed_on
from ppedu.runtime.cluster import get_cluster
from ppedu.schedules.theory import peak_activations, theory_bubble
from ppedu.schedules.timeline import Timeline
from ppedu.training.stage import measured_timeline
from ppedu import unanswered as contract
from ppedu.i18n.messages import _

SCHEDULES = tuple(diagnose.SCHEDULE_OF)
GRADE_P = 4   # grade also here: ranks 1 and 2 receive and send in both directions


@dataclass
class LabResult:
    """One measured run of a student's step (``timeline`` for the Gantt chart)."""
    spec: LabSpec
    schedule: str | None
    reports: list[LabReport] = field(default_factory=list)    # one per rank (ppedu.lab.job.lab_job)
    timeline: Timeline | None = None
    failure: str | None = None                            # the run itself failed (see message)
    wall_s: float = 0.0
    grad_max_abs_diff: float | None = None

    @property
    def orders(self) -> list[list]:
        return [diagnose.compute_order(r) for r in self.reports]

    @property
    def measured_bubble(self) -> float | None:
        """Idle share of the measured step (None when no rank computed anything)."""
        if self.timeline is None or not any(e.kind in ("F", "B") for e in self.timeline.events):
            return None
        return self.timeline.bubble_fraction()

    def summary(self) -> str:
        """One line: measured bubble and peak activations beside theory, or why nothing was measured."""
        failed = self.failure or next((_("train_step is not written yet") if r.status == "unanswered"
                                       else r.detail for r in self.reports if r.status != "ok"), None)
        if failed or self.measured_bubble is None:
            return _("nothing measured: {failed}").format(failed=failed or _('no rank computed anything'))
        theory = "" if self.theory_bubble is None else _(" (theory {theory_bubble:.3f})").format(theory_bubble=self.theory_bubble)
        peaks = "" if self.theory_peak_activations is None else _(" (theory {theory_peak_activations})").format(theory_peak_activations=self.theory_peak_activations)
        return (_("measured bubble {measured_bubble:.3f}{theory}, peak activations per rank {peak_activations}{peaks}").format(measured_bubble=self.measured_bubble, theory=theory, peak_activations=self.peak_activations, peaks=peaks))

    @property
    def theory_bubble(self) -> float | None:
        if self.schedule is None:
            return None
        return theory_bubble(diagnose.SCHEDULE_OF[self.schedule], self.spec.p, self.spec.m, self.spec.v)

    @property
    def peak_activations(self) -> list[int]:
        """Most micro-batches (x chunks) each rank held between forward and backward (measured)."""
        return [r.peak_held for r in self.reports]

    @property
    def theory_peak_activations(self) -> list[int] | None:
        if self.schedule is None:
            return None
        name, s = diagnose.SCHEDULE_OF[self.schedule], self.spec
        return [peak_activations(name, s.p, s.m, r, s.v) for r in range(s.p)]


@dataclass
class Grade:
    ok: bool
    message: str
    result: LabResult | None = None

    def __str__(self) -> str:
        return ("\u2713 " if self.ok else "\u2717 ") + self.message


_FIXED = ("schedule", "p", "m", "v", "workload", "boundaries")   # set by measure, or not the lab's


def measure(train_step, p: int = LabSpec.p, m: int = LabSpec.m, workload: str = LabSpec.workload,
            v: int = 1, schedule: str | None = None, cluster=None, **overrides) -> LabResult:
    """Run ``train_step`` once on p real ranks and record what every rank did (never raises for
    the student's bug: a failure is in ``.failure`` and in the reports). ``overrides``: LabSpec's
    other settings (it checks every value, once)."""
    check_names("measure", overrides, [f.name for f in fields(LabSpec) if f.name not in _FIXED])
    if schedule is not None:
        check_choice("schedule", schedule, SCHEDULES)
    placement = diagnose.SCHEDULE_OF[schedule] if schedule else "gpipe" if v == 1 else "interleaved"
    spec = LabSpec(placement, p, m, 2 if schedule == "interleaved" and v == 1 else v, workload, **overrides)
    _require_answered(train_step)
    result = LabResult(spec, schedule)
    try:
        payload = cloudpickle.dumps(train_step)
    except Exception as exc:  # noqa: BLE001 - e.g. a closure over an open file
        result.failure = _("train_step could not be shipped to the ranks: {type}: {exc}").format(type=type(exc).__name__, exc=exc)
        return result
    start = time.monotonic()
    try:
        usable = cluster is not None and cluster.world_size >= p and not getattr(cluster, "closed", False)
        group = cluster if usable else _connect(p)
        reports = group.run(lab_job, payload, spec, timeout=2 * spec.deadlock_s + 60)
        result.reports = reports[:p]  # a larger cluster's other ranks only took part in the collectives
    except ClusterError as exc:
        result.failure = (_("the run did not finish ({error}); an endless loop in train_step? The workers were restarted: run the cell again.").format(error=str(exc).splitlines()[0]))
        return result
    result.wall_s = time.monotonic() - start
    result.timeline = measured_timeline(result.reports, p)
    return result


def _require_answered(train_step) -> None:
    """The student copy's stub (its body raises NotAnswered): say "Exercise N: not answered yet"
    at once (a check cell prints that line and Run All goes on) instead of starting the ranks."""
    missing = contract.unanswered(train_step)
    if missing is not None:
        raise missing


def _ranks_changed(p: int, cluster) -> str | None:
    """Under ``ppedu grade`` only: why the ranks cannot be trusted (the student's step patched
    ppedu's code or builtins there), else None. Such ranks are stopped: the next run starts fresh.
    The check is the one ``ppedu grade`` handed down (``ppedu.unanswered.check_ranks_with``)."""
    check = contract.rank_check   # both read at call time: a test sets them
    if not contract.GRADING or check is None:
        return None
    try:
        (cluster if cluster is not None else _connect(p)).run(check)
    except ClusterError as exc:
        # the rank's traceback ends "...CheckingCodeChanged: <message in the run's language>": found
        # by the exception's name, which no translation changes
        lines = [x.split("CheckingCodeChanged:", 1)[1] for x in str(exc).splitlines() if "CheckingCodeChanged:" in x]
        return _("{error} (on a rank)").format(error=lines[-1].strip() if lines else str(exc).splitlines()[0])
    return None


def _connect(p: int):
    """The warm gloo cluster: the lab's tensors live on the CPU (on a GPU node too), and a timeout
    in a gloo group is a clean error, where NCCL's watchdog may tear the process down. At least
    ``GRADE_P`` ranks, so that grading at p = 2 and at ``GRADE_P`` never restarts the ranks."""
    return get_cluster(max(p, GRADE_P), "gloo")


def grade(train_step, schedule: str = "1f1b", p: int = LabSpec.p, m: int = LabSpec.m,
          workload: str = LabSpec.workload, v: int = 2, cluster=None, **overrides) -> Grade:
    """Run ``train_step`` on p real ranks and grade it against ``schedule`` (afab, 1f1b,
    interleaved with v chunks): the run finishes, every rank's order of forward/backward calls is
    the schedule's, and (model workload) the gradients equal the single-process model's. With
    p < 3 the step is graded on ``GRADE_P`` ranks too (middle ranks); ``result`` is the run at p."""
    check_choice("schedule", schedule, SCHEDULES)
    if not callable(train_step):
        return Grade(False, _("train_step must be a function train_step(stage) (got {type})").format(type=type(train_step).__name__))
    first = _grade_once(train_step, schedule, p, m, workload, v, cluster, overrides)
    if not first.ok or p >= 3:
        return first
    mid_m = m if schedule != "interleaved" else -(-m // GRADE_P) * GRADE_P  # interleaved: m % p == 0
    where = _("p={p} ranks").format(p=GRADE_P) + (f", m={mid_m}" if mid_m != m else "")
    second = _grade_once(train_step, schedule, GRADE_P, mid_m, workload, v, cluster, overrides)
    if not second.ok:
        return Grade(False, _("Right on p={p} ranks, wrong on {where}, where ranks 1 and 2 are middle ranks (they receive and send both ways; p={p} has none): {message}").format(p=p, where=where, message=second.message),
                     second.result)
    return Grade(True, _("{message} Also graded on {where}, where ranks 1 and 2 are middle ranks (p=2 has none): right there too.").format(message=first.message, where=where), first.result)


def _grade_once(train_step, schedule: str, p: int, m: int, workload: str, v: int, cluster,
                overrides: dict) -> Grade:
    _ranks_changed(p, cluster)      # `ppedu grade`: take (or check) the ranks' fingerprint first
    result = measure(train_step, p, m, workload, v if schedule == "interleaved" else 1, schedule,
                     cluster, **overrides)
    changed = _ranks_changed(p, cluster)
    if changed:
        return Grade(False, changed, result)
    if result.failure:
        return Grade(False, result.failure, result)
    spec = result.spec
    failure = diagnose.run_failure(result.reports, spec.deadlock_s, spec.v)
    if failure in (diagnose.NOT_WRITTEN, _(diagnose.NOT_WRITTEN)):
        return Grade(False, failure, result)  # nothing else: the rest would tell the answer
    notes = [n for r in result.reports for n in r.notes]
    problems = [diagnose.chunks_ignored(result.reports, spec.v), failure, notes[0] if notes else None]
    if all(r.status == "ok" for r in result.reports) and workload == "model":
        wrong = _gradient_problem(result)
        # after "you passed the gradient you received", the fit's "mixed up" reading would mislead
        shorten = wrong and notes and is_passed_on(notes[0])
        problems.append(re.split("[:：]", wrong)[0] + _(" as a result") if shorten else wrong)
    orders = diagnose.order_difference(schedule, spec.built_schedule, result.orders)
    problems.append(_("The order differs from {title}: {orders}.").format(title=_(diagnose.TITLE[schedule]), orders=orders) if orders else None)
    problems = [x for x in problems if x]
    if problems:
        also = "".join(_("\nAlso: {problem}").format(problem=x) for x in problems[1:])
        return Grade(False, problems[0] + also, result)
    return Grade(True, _success(result, workload), result)


def _gradient_problem(result: LabResult) -> str | None:
    spec = result.spec
    verdict, worst = diagnose.diagnose_gradients([r.gradients for r in result.reports],
                                                 per_microbatch_gradients(spec),
                                                 expected_parameter_names(spec), spec.m)
    result.grad_max_abs_diff = worst
    return verdict


def _success(result: LabResult, workload: str) -> str:
    s, name = result.spec, _(diagnose.TITLE[result.schedule])
    text = _("{name} on p={p} ranks, m={m} micro-batches: every rank ran {name}'s order").format(name=name, p=s.p, m=s.m)
    if result.grad_max_abs_diff is not None:
        text += _(", and the gradients equal the single-process model's (max diff {grad_max_abs_diff:.1e})").format(grad_max_abs_diff=result.grad_max_abs_diff)
    text += (_(". Peak activations per rank {peak_activations} micro-batches (theory {theory_peak_activations}).").format(peak_activations=result.peak_activations, theory_peak_activations=result.theory_peak_activations))
    if workload == "model":  # real compute on oversubscribed CPU cores: its idle share is not the schedule's
        return text + (_(" (No bubble from this run: the model's real compute shares the CPU cores, so "
                       "its idle time is not the schedule's; measure(..., workload='timed') shows that.)"))
    return text + _(" Measured bubble {measured_bubble:.2f} (theory {theory_bubble:.2f}).").format(measured_bubble=result.measured_bubble, theory_bubble=result.theory_bubble)

