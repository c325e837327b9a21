"""Checks for the exercises about schedules: the bubble formula (00, 02), choosing m (03), one
rank's hand-written order (04).

Each ``check_*`` function tests a student's answer against something real (``ppedu.schedules.theory``, the
validator, a measured result) and either prints a line starting with ✓ or raises an
``AssertionError`` whose message says what is wrong and gives a hint. At module level it imports
the standard library and torch-free ppedu modules only (errors, grading, checks.order_mistakes,
schedules), so importing it stays cheap (tests/notebook/test_exercises.py checks that torch is not loaded).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any, Callable, Iterable, Mapping

from ppedu.errors import UsageError, check_float, check_int
from ppedu.notebook.checks.order_mistakes import order_mistake
from ppedu.notebook.grading import NotAnswered, OK, grader
from ppedu.schedules import build_schedule, theory
from ppedu.schedules.actions import MAX_M, MAX_P, Action, Schedule, peak_held
from ppedu.schedules.simulator import simulate
from ppedu.schedules.theory import bubble_gpipe, peak_activations
from ppedu.schedules.validator import validate
from ppedu.i18n.messages import N_, _


# (formula name, arity, reference, description) for check_bubble_formula
_FORMULAS = {
    "naive": ("bubble_naive", ("p",), N_("(p-1)/p, the idle share without micro-batches")),
    "gpipe": ("bubble_gpipe", ("p", "m"), N_("(p-1)/(m+p-1), GPipe's idle share of the step")),
    "1f1b": ("bubble_1f1b", ("p", "m"), N_("(p-1)/(m+p-1), the same idle share as GPipe")),
    "playbook": ("bubble_ratio_playbook", ("p", "m"), N_("(p-1)/m, bubble time over ideal time")),
    "interleaved": ("bubble_interleaved", ("p", "m", "v"), N_("(p-1)/(v*m+p-1), idle share")),
    "interleaved-ratio": ("bubble_ratio_interleaved", ("p", "m", "v"), N_("(p-1)/(v*m), ratio")),
}

# wrong answers students often give, recognised to make the hint specific
_KNOWN_MISTAKES: dict[str, Callable[..., float]] = {
    N_("the Playbook ratio (p-1)/m (bubble time / ideal time), not the idle share of the step"):
        lambda p, m=1, v=1: (p - 1) / (v * m),
    N_("the naive bubble (p-1)/p: it ignores the micro-batches"): lambda p, m=1, v=1: (p - 1) / p,
    N_("(p-1)/(m+p): the step lasts m+p-1 slots, not m+p"): lambda p, m=1, v=1: (p - 1) / (v * m + p),
    N_("the idle share (p-1)/(m+p-1), but the question asks for bubble time over ideal time"):
        lambda p, m=1, v=1: (p - 1) / (v * m + p - 1),
}


def _grid(args: tuple[str, ...]) -> list[dict[str, int]]:
    ps, ms, vs = [1, 2, 3, 4, 8], [1, 2, 4, 7, 8, 32], [2, 3, 4]
    grid = [{"p": p, "m": m, "v": v} for p in ps for m in ms for v in vs]
    seen, out = set(), []
    for point in grid:
        key = tuple(point[a] for a in args)
        if key not in seen:
            seen.add(key)
            out.append({a: point[a] for a in args})
    return out


def _call_student(student_fn: Callable[..., float], args: tuple[str, ...],
                  point: dict[str, int]) -> float:
    """Call the student's function at one grid point; explain failures as AssertionErrors."""
    call = ", ".join(f"{a}={point[a]}" for a in args)
    try:
        got = student_fn(*(point[a] for a in args))
    except NotAnswered:
        raise
    except NotImplementedError:
        raise AssertionError(_("Replace `raise NotImplementedError` with your formula.")) from None
    except Exception as exc:  # the student's code failed: say where
        raise AssertionError(_("Your function raised {type}: {exc} for {call}. It must accept {args} as positional arguments.").format(type=type(exc).__name__, exc=exc, call=call, args=", ".join(args))) from None
    if not isinstance(got, (int, float)) or isinstance(got, bool) or math.isnan(got):
        raise AssertionError(_("For {call} your function returned {got!r}; return a number (a fraction between 0 and 1, or a ratio).").format(call=call, got=got))
    return float(got)


@grader
def check_bubble_formula(student_fn: Callable[..., float], kind: str = "gpipe") -> None:
    """Compare ``student_fn`` with ``ppedu.schedules.theory`` on a grid of p, m (and v).

    ``kind``: ``naive`` (fn(p)), ``gpipe``/``1f1b``/``playbook`` (fn(p, m)), ``interleaved`` or
    ``interleaved-ratio`` (fn(p, m, v)).
    """
    if kind not in _FORMULAS:
        raise ValueError(_("{name} must be one of {choices} (got {value})").format(
            name="kind", choices=", ".join(_FORMULAS), value=repr(kind)))
    name, args, description = _FORMULAS[kind]
    reference = getattr(theory, name)
    grid = _grid(args)
    answers = [_call_student(student_fn, args, point) for point in grid]
    for point, got in zip(grid, answers):
        want = reference(*(point[a] for a in args))
        if math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            continue
        call = ", ".join(f"{a}={point[a]}" for a in args)
        msg = _("For {call} you return {got:.4f}, expected {want:.4f}.").format(call=call, got=got, want=want)
        for why, wrong in _KNOWN_MISTAKES.items():  # a known mistake must match on the whole grid
            if all(math.isclose(g, wrong(**pt), rel_tol=1e-9, abs_tol=1e-12)
                   for g, pt in zip(answers, grid)):
                msg += _(" Your formula looks like {why}.").format(why=_(why))
                break
        msg += _(" Hint: draw the Gantt chart for small p and m, count the time slots of the "
                 "step and the slots in which one GPU computes.")
        raise AssertionError(msg)
    print(_("{ok} bubble formula ({kind}) matches ppedu.schedules.theory on {cases} cases: {description}.").format(ok=OK, kind=kind, cases=len(_grid(args)), description=_(description)))


# more actions than any schedule within the library's limits gives one rank (F, B, W of every
# micro-batch of every chunk): a longer list is an answer to another question
_MAX_ACTIONS = 3 * 1024 * 16


def parse_actions(actions: Iterable[Any]) -> list:
    """Turn ``["F0", "B_1", ("F", 2), Action(...)]`` into ``ppedu.schedules.actions.Action`` objects."""
    if isinstance(actions, (str, bytes)):
        raise AssertionError(_("actions is the string {actions!r}; give a list of actions like ['F0', 'F1', 'B0'] (one string per action).").format(actions=actions[:60]))
    try:
        items = list(itertools.islice(iter(actions), _MAX_ACTIONS + 1))
    except TypeError:
        raise AssertionError(_("actions is a {type}; give a list of actions like ['F0', 'F1', 'B0'].").format(type=type(actions).__name__)) from None
    if len(items) > _MAX_ACTIONS:
        raise AssertionError(_("actions has more than {max_actions} entries; one rank of a schedule runs at most 3 actions per micro-batch and chunk.").format(max_actions=_MAX_ACTIONS))
    return [_parse_action(i, item) for i, item in enumerate(items)]


def _parse_action(i: int, item: Any) -> Action:
    if isinstance(item, Action):
        return item
    if isinstance(item, (tuple, list)) and len(item) == 2:
        item = f"{item[0]}{item[1]}"
    try:
        if not isinstance(item, str):
            raise UsageError("not a string")
        return Action.parse(item)
    except UsageError:
        shown = repr(item) if isinstance(item, (str, int, float, tuple, list)) else type(item).__name__
        raise AssertionError(_("Action {i} is {shown}; write actions like 'F0', 'B3' (kind F or B, then the micro-batch number, from 0).").format(i=i, shown=shown[:60])) from None


def _reference(schedule: str, p: int, m: int) -> tuple[Any, float]:
    """The library's ``schedule`` for p, m and its unit-time step. A student re-runs the check
    many times, so both are kept (``check_rank_order`` never changes them: it copies)."""
    try:
        return _cached_reference(schedule, p, m)
    except TypeError:  # an unhashable argument is no cache key: the builder names what is wrong
        return _cached_reference.__wrapped__(schedule, p, m)


@functools.lru_cache(maxsize=4)  # a 64-rank, 1024-micro-batch schedule is 10^5 actions: keep few
def _cached_reference(schedule: str, p: int, m: int) -> tuple[Any, float]:
    ref = build_schedule(schedule, p, m)
    return ref, simulate(ref).makespan


@grader
def check_rank_order(p: int, m: int, rank: int, actions: Iterable[Any],
                     schedule: str = "1f1b") -> None:
    """Grade a student's action order for one ``rank`` of a ``schedule`` (default 1F1B).

    The order replaces that rank in ``build_schedule(schedule, p, m)`` and the validator runs
    the result with blocking receives. A valid order must also be as good as the reference:
    the same step time (unit costs) and no more activations held than 1F1B's ``min(p-rank, m)``.
    """
    ref, want = _reference(schedule, p, m)  # checks schedule, p and m (one-line UsageError)
    rank = check_int("rank", rank, 0, ref.p - 1)
    p, m = ref.p, ref.m
    student = parse_actions(actions)
    mbs = [a.mb for a in student]
    if mbs and min(mbs) >= 1 and max(mbs) == m:
        raise AssertionError(_("Your micro-batches run 1..{m}; here they are numbered from 0 (0..{last}), as in torch.distributed.pipelining.").format(m=m, last=m - 1))
    ranks = [list(acts) for acts in ref.ranks]
    ranks[rank] = student
    trial = Schedule(ref.name, ref.p, ref.m, ref.v, ranks, ref.split_backward)
    verdict = validate(trial)
    # a known mistake gets its own words (never the warm-up count: the exercise asks for it)
    mistake = order_mistake(student, ref.ranks[rank], rank, schedule)
    if not verdict.ok:
        raise AssertionError(_("{mistake}\nWith the other GPUs running {schedule}, the validator says: {message}").format(mistake=mistake or _('Your order for GPU{rank} cannot run').format(rank=rank), schedule=schedule, message=verdict.message))
    peak, ref_peak = peak_held(student), peak_held(ref.ranks[rank])
    if peak > ref_peak:
        raise AssertionError(_("Your order runs, but GPU{rank} holds the activations of {peak} micro-batches at once; {schedule} needs at most {ref_peak}. {mistake}").format(rank=rank, peak=peak, schedule=schedule, ref_peak=ref_peak, mistake=mistake or _('Start each backward as early as you can.')))
    # the validator already ran the trial with unit times and blocking receives: that is the
    # simulator's default cost model, so its makespan is the trial's step (one run saved; at
    # p=64, m=1024 each run is ~10^5 actions)
    got = verdict.timeline.makespan if verdict.timeline is not None else simulate(trial).makespan
    if got > want + 1e-9:
        raise AssertionError(_("Your order runs, but the step takes {got:g} units instead of {want:g}: GPU{rank} makes other GPUs wait. {mistake}").format(got=got, want=want, rank=rank, mistake=mistake or _('Hint: warm up, then one F and one B in turn.')))
    print(_("{ok} GPU{rank}'s order is a valid {schedule} order for p={p}, m={m}: step of {got:g} units, at most {peak} micro-batches of activations held.").format(ok=OK, rank=rank, schedule=schedule, p=p, m=m, got=got, peak=peak))


@grader
def check_choose_m(m: int | None, p: int, memory_budget_mb: float, per_microbatch_mb: float,
                   schedule: str = "gpipe", candidates: Iterable[int] = range(1, 65)) -> None:
    """Is ``m`` the candidate with the smallest bubble whose activations fit on rank 0?

    ``per_microbatch_mb``: activation memory of one micro-batch on one stage (fixed micro-batch
    size). GPipe holds m of them, 1F1B at most p (``ppedu.schedules.theory``).
    ``m=None`` means "no candidate fits".
    """
    p = check_int("p", p, 1, MAX_P)
    memory_budget_mb = check_float("memory_budget_mb", memory_budget_mb, 0.0)
    per_microbatch_mb = check_float("per_microbatch_mb", per_microbatch_mb, 0.0)
    candidates = sorted({check_int("candidate m", c, 1, MAX_M)
                         for c in itertools.islice(candidates, MAX_M + 1)})

    def need(c: int) -> float:
        return peak_activations(schedule, p, c, rank=0) * per_microbatch_mb

    fitting = [c for c in candidates if need(c) <= memory_budget_mb]
    best = fitting[-1] if fitting else None  # the bubble falls as m grows
    if m == best:
        detail = (_("needs {need:g} MB of {budget:g} MB, bubble {bubble:.3f}").format(
            need=need(m), budget=memory_budget_mb, bubble=bubble_gpipe(p, m)) if m is not None
            else _("nothing fits the budget"))
        print(_("{ok} m={m} is right for {schedule}, p={p}: {detail}.").format(ok=OK, m=m, schedule=schedule, p=p, detail=detail))
        return
    if m is None:
        raise AssertionError(_("m={best} fits: it needs {need:g} MB of {memory_budget_mb:g} MB.").format(best=best, need=need(best), memory_budget_mb=memory_budget_mb))
    if m not in candidates:
        raise AssertionError(_("m={m} is not one of the allowed values {lo}..{hi}.").format(m=m, lo=candidates[0], hi=candidates[-1]))
    held = peak_activations(schedule, p, m, rank=0)
    if need(m) > memory_budget_mb:
        raise AssertionError(_("m={m} does not fit: under {schedule} rank 0 holds {held} micro-batches x {per_microbatch_mb:g} MB = {need:g} MB > {memory_budget_mb:g} MB.").format(m=m, schedule=schedule, held=held, per_microbatch_mb=per_microbatch_mb, need=need(m), memory_budget_mb=memory_budget_mb))
    raise AssertionError(_("m={m} fits ({need:g} MB), but m={best} fits too and its bubble is {best_bubble:.3f} instead of {bubble:.3f}. Hint: under {schedule} rank 0 holds {held} micro-batches.").format(m=m, need=need(m), best=best, best_bubble=bubble_gpipe(p, best), bubble=bubble_gpipe(p, m), schedule=schedule, held='m' if schedule == 'gpipe' else _('at most p')))

