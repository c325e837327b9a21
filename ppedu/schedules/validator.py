"""Check a schedule and explain, in plain words, the first thing that is wrong with it.

Two kinds of input:
  * a ``Schedule`` (ordered action lists, no times): we run it with unit-time actions where a
    rank blocks on a receive until the producing action has finished (sends are buffered, as
    with isend or Megatron's fused send/recv). If every unfinished rank is blocked: deadlock.
  * a ``TimedSchedule`` parsed from a textbook-style table (``ppedu.schedules.tables``): the
    table's own time steps are the truth; an action at step t may only use results of actions
    at steps < t.

Either way each (stage, micro-batch) must have its F and B (and W when backward is split)
exactly once, on the rank that owns the stage.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ppedu.errors import UsageError, check_int
from ppedu.i18n.catalog import _
from ppedu.schedules import compiled
from ppedu.schedules.actions import MAX_M, MAX_P, MAX_V, Action, Schedule, TaskKey, needs, task_key
from ppedu.schedules.simulator import Deadlock, run_task_lists, schedule_tasks
from ppedu.schedules.timeline import Event, Timeline
from ppedu.schedules.tables import TimedSchedule, load_example, parse_markdown_table

__all__ = ["Verdict", "validate", "parse_markdown_table", "load_example", "TimedSchedule"]


@dataclass
class Verdict:
    """``ok`` and a ``message`` for a student; ``problems`` lists everything found, first first."""

    ok: bool
    message: str
    problems: list[str] = field(default_factory=list)
    timeline: Timeline | None = None

    def __str__(self) -> str:
        return self.message


def validate(schedule: Schedule | TimedSchedule, *, blocking: bool = True) -> Verdict:
    """Check ``schedule``; report the first violation (earliest in time, then lowest GPU).

    ``blocking=False`` skips running an untimed schedule, so only completeness is checked.
    """
    with compiled.without_cyclic_gc():  # 10^5 small tuples, none in a cycle (see there)
        return _validate(schedule, blocking)


def _validate(schedule: Schedule | TimedSchedule, blocking: bool) -> Verdict:
    timed = schedule if isinstance(schedule, TimedSchedule) else None
    sched = timed.schedule if timed else schedule
    _check_sizes(sched)
    names = _Namer(sched, timed.one_based if timed else False)
    problems = _timed_problems(timed, names) if timed else []
    program = compiled.compile_schedule(sched, 0.0)  # None unless well-formed
    problems += [] if _complete(sched, program) else _completeness_problems(sched, names)
    timeline = timed.timeline() if timed else None
    if not problems and timed is None and blocking:
        problems, timeline = _run_blocking(sched, names, program)
    if problems:
        return Verdict(False, _("INVALID: {problem}").format(problem=problems[0]), _capped(problems), timeline)
    if timed:
        message = _("VALID: {p} GPUs, {m} micro-batches; every dependency is met on its time steps.")
    else:
        message = _("VALID: {p} GPUs, {m} micro-batches; every dependency is met with blocking receives.")
    return Verdict(True, message.format(p=sched.p, m=sched.m), [], timeline)


# a verdict lists at most this many problems, then how many more there are: a table that
# names F_1024 on one GPU only would otherwise list a million missing actions
MAX_PROBLEMS = 50


def _check_sizes(sched) -> None:
    """Refuse what is not a schedule, or one larger than the library's limits, in one line:
    the checks below cost p * v * m, so the sizes bound the time of a verdict."""
    if not isinstance(sched, Schedule):
        raise UsageError(_("schedule must be a Schedule or a TimedSchedule (got {type})").format(
            type=type(sched).__name__))
    check_int("p", sched.p, 1, MAX_P)
    check_int("m", sched.m, 1, MAX_M)
    check_int("v", sched.v, 1, MAX_V)
    if len(sched.ranks) != sched.p:
        raise UsageError(_("ranks must hold one action list per GPU, {p} lists (got {n})").format(
            p=sched.p, n=len(sched.ranks)))


def _capped(problems: list[str]) -> list[str]:
    """The first MAX_PROBLEMS problems, then one line counting the others (including those
    a "... and N more" line already stands for)."""
    if len(problems) <= MAX_PROBLEMS + 1:
        return problems
    hidden = sum(text.count if isinstance(text, _More) else 1 for text in problems[MAX_PROBLEMS:])
    return problems[:MAX_PROBLEMS] + [_More.of(hidden)]


class _More(str):
    """The line "... and N more problems." in the student's language, which knows its N."""

    count: int

    @classmethod
    def of(cls, count: int) -> "_More":
        line = cls(_("... and {n} more problems.").format(n=count))
        line.count = count
        return line


class _Namer:
    """Names actions the way the student wrote them (F_1 when the table counts from 1)."""

    def __init__(self, schedule: Schedule, one_based: bool):
        self.schedule, self.base = schedule, 1 if one_based else 0

    def key(self, key: TaskKey) -> str:
        kind, stage, mb = key
        chunk = self.schedule.place_of(stage)[1]
        name = f"{kind}_{mb + self.base}"
        return _("{action} (chunk {chunk})").format(action=name, chunk=chunk) if self.schedule.v > 1 else name

    def gpu(self, stage: int) -> str:
        return f"GPU{self.schedule.place_of(stage)[0]}"


def _why(need: TaskKey, action_kind: str) -> str:
    """What an action takes from the one it depends on."""
    kind = need[0]
    if action_kind == "F":
        return _("its input activations come from")
    if action_kind == "B" and kind == "B":
        return _("its input gradient comes from")
    if action_kind == "B":
        return _("it needs the activations saved by")
    return _("it needs the output gradient received by")


def _timed_problems(timed: TimedSchedule, names: _Namer) -> list[str]:
    """Dependency violations on the table's time steps, sorted by (time, GPU)."""
    sched = timed.schedule
    when: dict[TaskKey, list[int]] = {}
    for r, actions in enumerate(sched.ranks):
        for a, t in zip(actions, timed.steps[r]):
            when.setdefault(task_key(sched, r, a), []).append(t)
    found: list[tuple[int, int, str]] = []
    for r, actions in enumerate(sched.ranks):
        for a, t in zip(actions, timed.steps[r]):
            key = task_key(sched, r, a)
            runs = dict(gpu=f"GPU{r}", action=names.key(key), t=t)
            if when[key][0] != t:
                found.append((t, r, _("{gpu} runs {action} at t={t}, but it already ran at t={first}.").format(
                    **runs, first=when[key][0])))
                continue
            for need in needs(sched, r, a):
                why = dict(why=_why(need, a.kind), need=names.key(need), where=names.gpu(need[1]))
                if need not in when:
                    text = _("{gpu} runs {action} at t={t}, but {why} {need} on {where}, which never runs.")
                elif when[need][0] >= t:
                    text = _("{gpu} runs {action} at t={t}, but {why} {need} on {where}, which also runs at "
                             "t={at}; a result can be used from the next step on.") if when[need][0] == t else \
                        _("{gpu} runs {action} at t={t}, but {why} {need} on {where}, which only runs at "
                          "t={at}; a result can be used from the next step on.")
                else:
                    continue
                found.append((t, r, text.format(**runs, **why, at=when[need][0] if need in when else None)))
    return [text for _, _, text in sorted(found, key=lambda x: (x[0], x[1]))]


def _complete(sched: Schedule, program: compiled.Program | None) -> bool:
    """The quick answer for a well-formed schedule (every action F/B/W, in range, none twice):
    complete when it counts every F, every B (if any), and every W when backward is split.
    Otherwise ``_completeness_problems`` looks at each action and names what is wrong."""
    if program is None:
        return False
    counts = Counter(kind for row in program.kinds for kind in row)
    kinds = ["F"] + ["B"] * (counts["B"] > 0) + ["W"] * sched.split_backward
    return all(counts[kind] == sched.num_stages * sched.m for kind in kinds)


def _completeness_problems(sched: Schedule, names: _Namer) -> list[str]:
    """Every (stage, mb) needs F, B (unless inference) and W (if split) exactly once."""
    present: dict[TaskKey, int] = {}
    problems = []
    for r, actions in enumerate(sched.ranks):
        for a in (u for action in actions for u in _units(action)):
            if not _well_formed(a, sched):
                problems.append(_("GPU{r} has an action {action} outside kinds F/B/W, micro-batches 0..{last_mb}, "
                                  "chunks 0..{last_chunk}.").format(r=r, action=a, last_mb=sched.m - 1,
                                                                    last_chunk=sched.v - 1))
                continue
            key = task_key(sched, r, a)
            present[key] = present.get(key, 0) + 1
    kinds = ["F"]
    if any(k[0] == "B" for k in present):
        kinds.append("B")
    # W is required everywhere when every backward is split; else it is optional and only
    # checked for repeats (DualPipeV splits some backwards; a B without its W is a whole one)
    kinds += ["W"] if sched.split_backward else []
    optional = [] if sched.split_backward else ["W"]
    return problems + _missing_or_repeated(sched, names, present, kinds, optional)


def _units(action) -> tuple:
    """The plain actions of one entry: an overlapped pair's two halves, else itself (anything
    a student typed, well formed or not, so that the checks below can name it)."""
    return action.units if isinstance(action, Action) else (action,)


def _well_formed(a, sched: Schedule) -> bool:
    return (isinstance(a, Action) and a.kind in ("F", "B", "W") and type(a.mb) is int
            and type(a.chunk) is int and 0 <= a.chunk < sched.v and 0 <= a.mb < sched.m)


def _missing_or_repeated(sched: Schedule, names: _Namer, present: dict[TaskKey, int],
                         kinds: list[str], optional: list[str]) -> list[str]:
    """Missing and repeated tasks in (stage, mb, kind) order. Stops naming them after
    MAX_PROBLEMS and counts the rest, so the time is bounded by the actions present plus
    MAX_PROBLEMS, not by p * v * m (every present key is one of the expected ones)."""
    missing = sched.num_stages * sched.m * len(kinds) - sum(k[0] in kinds for k in present)
    repeated = sum(1 for count in present.values() if count > 1)
    problems: list[str] = []
    if not missing and not repeated:
        return problems
    for stage in range(sched.num_stages):
        for mb in range(sched.m):
            for kind in kinds + optional:
                if len(problems) == MAX_PROBLEMS:
                    more = missing + repeated - MAX_PROBLEMS
                    return problems + ([_More.of(more)] if more else [])
                key = (kind, stage, mb)
                count = present.get(key, 0)
                if count == 0 and kind not in optional:
                    problems.append(_("{gpu} never runs {action}.").format(gpu=names.gpu(stage), action=names.key(key)))
                elif count > 1:
                    problems.append(_("{gpu} runs {action} {count} times; once is right.").format(
                        gpu=names.gpu(stage), action=names.key(key), count=count))
    return problems


def _run_blocking(sched: Schedule, names: _Namer,
                  program: compiled.Program | None) -> tuple[list[str], Timeline | None]:
    """Run with unit times and blocking receives on the simulator's fast path (``program``:
    ``sched`` compiled; a complete schedule is well-formed); the reference below explains a
    deadlock."""
    ran = program and compiled.run_program(program, [[1.0] * len(row) for row in program.codes])
    if not ran:
        return _run_blocking_reference(sched, names)
    return [], compiled.timeline_of(program, *ran)


def _run_blocking_reference(sched: Schedule, names: _Namer) -> tuple[list[str], Timeline | None]:
    """Run with unit times and blocking receives; explain a deadlock if it happens."""
    lists, deps = schedule_tasks(sched)
    try:
        done = run_task_lists(lists, lambda r, k: 1.0, lambda r, k: [(n, 0.0) for n in deps[k]])
    except Deadlock as stuck:
        parts = []
        for r, (key, missing) in sorted(stuck.waiting.items()):
            for need in missing:
                gpu = names.gpu(need[1])
                whose = (_("its own {action}, which comes later in its list").format(action=names.key(need))
                         if gpu == f"GPU{r}" else _("{action} from {gpu}").format(action=names.key(need), gpu=gpu))
                parts.append(_("GPU{r} is stuck at {action} waiting for {whose}").format(
                    r=r, action=names.key(key), whose=whose))
        return [_("Deadlock: {waits}. No GPU can move.").format(waits=_("; ").join(parts))], None
    events = [Event(r, k[0], k[2], sched.place_of(k[1])[1], s, e) for k, (r, s, e) in done.items()]
    return [], Timeline(events, sched.p)
