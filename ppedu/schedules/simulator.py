"""Discrete-event simulation of a pipeline schedule against a cost model.

Each rank runs its actions in order. An action starts when (1) the rank finished its previous
action and (2) every action it depends on finished, plus the time to carry the message when the
producer lives on another rank (latency + bytes / bandwidth). That is all a pipeline is; the
bubble falls out.

The event loop (``run_task_lists``) knows nothing about pipelines: it takes per-rank task lists
and a callback naming each task's dependencies, so the validator reuses it (unit-length tasks)
to explain a deadlock. ``simulate`` runs the same model on numbers instead of tuples
(``ppedu.schedules.compiled``, about 3x faster, equal to the last bit); ``simulate_reference``
is this module's plain version, the one to read first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from ppedu.errors import UsageError, check_float
from ppedu.i18n.catalog import _
from ppedu.schedules import compiled
from ppedu.schedules.actions import Schedule, TaskKey, rank_tasks
from ppedu.schedules.builders import build
from ppedu.schedules.timeline import Event, Timeline

Costs = float | Sequence[float]


@dataclass
class CostModel:
    """Time per action, per rank's whole share of the model (seconds, or any unit you like).

    ``t_b`` is the input-gradient part of backward and ``t_w`` the weight-gradient part. A
    schedule that does not split backward runs both in one B costing ``t_b + t_w``; Zero Bubble
    runs B (``t_b``) and W (``t_w``) separately. The default ``t_w = 0`` gives the textbook
    picture (F and B one unit each); ``t_f = t_b = t_w = 1`` is the setting of the Zero Bubble
    paper, where a full backward costs twice a forward.

    Each cost is a number or a list with one number per rank (an unbalanced pipeline). With
    ``v`` chunks per rank a chunk costs 1/v of its rank's time. Every message between ranks
    costs ``latency_s + message_bytes / bandwidth_Bps``.
    """

    t_f: Costs = 1.0
    t_b: Costs = 1.0
    t_w: Costs = 0.0
    latency_s: float = 0.0
    bandwidth_Bps: float = math.inf
    message_bytes: float = 0.0

    def per_rank(self, name: str, p: int) -> list[float]:
        value = getattr(self, name)
        values = [value] * p if isinstance(value, (int, float)) else list(value)
        if len(values) != p:
            raise UsageError(_("{name} must be one number or a list of p={p} numbers (got {n})").format(
                name=name, p=p, n=len(values)))
        return [check_float(name, x, 0.0) for x in values]

    def message_time(self) -> float:
        check_float("bandwidth_Bps", self.bandwidth_Bps, 1e-12)
        return (check_float("latency_s", self.latency_s, 0.0)
                + check_float("message_bytes", self.message_bytes, 0.0) / self.bandwidth_Bps)


@dataclass
class SimResult:
    timeline: Timeline
    makespan: float
    bubble_fraction: float
    busy: list[float] = field(default_factory=list)
    idle: list[float] = field(default_factory=list)
    peak_inflight: list[int] = field(default_factory=list)


class Deadlock(Exception):
    """No rank can make progress. ``waiting[rank] = (task, missing keys)`` for stuck ranks."""

    def __init__(self, waiting: dict[int, tuple[Hashable, list[Hashable]]],
                 done: dict[Hashable, tuple[int, float, float]]):
        super().__init__(_("deadlock: ranks {ranks} wait forever").format(ranks=sorted(waiting)))
        self.waiting, self.done = waiting, done


def run_task_lists(
    task_lists: Sequence[Sequence[Hashable]],
    duration: Callable[[int, Hashable], float],
    dependencies: Callable[[int, Hashable], list[tuple[Hashable, float]]],
) -> dict[Hashable, tuple[int, float, float]]:
    """Run each rank's tasks in order; return ``{task: (rank, start, end)}``.

    ``dependencies(rank, task)`` lists ``(other_task, delay)``: the task may start ``delay``
    seconds after ``other_task`` ends. A rank blocks on its next task until its dependencies are
    done (a blocking receive). Raises ``Deadlock`` when every unfinished rank is blocked.

    Linear in the number of tasks: a blocked rank parks on the task it misses and is woken when
    that task finishes, instead of every rank being polled again after each step.
    """
    done: dict[Hashable, tuple[int, float, float]] = {}
    finish: dict[Hashable, float] = {}       # task -> end time (the hot lookup, one float)
    next_index = [0] * len(task_lists)
    free_at = [0.0] * len(task_lists)
    parked: dict[Hashable, list[int]] = {}   # missing task -> ranks waiting for it
    runnable = list(range(len(task_lists)))
    finished_at = finish.get
    while runnable:
        rank = runnable.pop()
        tasks, i, clock = task_lists[rank], next_index[rank], free_at[rank]
        n = len(tasks)
        while i < n:
            task = tasks[i]
            missing = None
            for dep, delay in dependencies(rank, task):
                end = finished_at(dep)
                if end is None:
                    missing = dep
                    break
                if end + delay > clock:
                    clock = end + delay
            if missing is not None:
                parked.setdefault(missing, []).append(rank)
                break
            end = clock + duration(rank, task)
            done[task], finish[task] = (rank, clock, end), end
            clock, i = end, i + 1
            if parked and task in parked:
                runnable += parked.pop(task)
        next_index[rank], free_at[rank] = i, clock
    _raise_if_stuck(task_lists, next_index, dependencies, done)
    return done


def _raise_if_stuck(task_lists, next_index: list[int], dependencies, done: dict) -> None:
    """Every rank that did not finish is blocked for good: name what each one waits for."""
    waiting = {}
    for rank, tasks in enumerate(task_lists):
        if next_index[rank] < len(tasks):
            task = tasks[next_index[rank]]
            waiting[rank] = (task, [d for d, _ in dependencies(rank, task) if d not in done])
    if waiting:
        raise Deadlock(waiting, done)


def schedule_tasks(schedule: Schedule) -> tuple[list[list[TaskKey]], dict[TaskKey, list[TaskKey]]]:
    """Per-rank task keys ``(kind, stage, mb)`` of a schedule in order, and what each waits for."""
    lists, deps = [], {}
    for rank in range(schedule.p):
        tasks = rank_tasks(schedule, rank)
        lists.append([key for key, _ in tasks])
        deps.update(tasks)
    return lists, deps


def simulate(schedule: Schedule, costs: CostModel | None = None) -> SimResult:
    """Simulate ``schedule`` under ``costs``; return its timeline and metrics.

    A well-formed schedule runs on the fast path (``ppedu.schedules.compiled``); anything else
    (a task twice, a micro-batch out of range, a deadlock) on ``simulate_reference``, which
    computes the same numbers the plain way and names what is wrong."""
    with compiled.without_cyclic_gc():
        return _simulate_fast(schedule, costs or CostModel()) or _simulate(schedule, costs)


def simulate_reference(schedule: Schedule, costs: CostModel | None = None) -> SimResult:
    """``simulate`` without the fast path: tuple keys and callbacks, the model as written above."""
    with compiled.without_cyclic_gc():
        return _simulate(schedule, costs)


def _simulate_fast(schedule: Schedule, costs: CostModel) -> SimResult | None:
    """``_simulate`` on numbers; None where the reference must answer."""
    p, v = schedule.p, schedule.v
    t_f, t_b, t_w = (costs.per_rank(n, p) for n in ("t_f", "t_b", "t_w"))
    program = compiled.compile_schedule(schedule, costs.message_time())
    if program is None:
        return None
    ran = compiled.run_program(program, compiled.durations(program, schedule.split_backward,
                                                           t_f, t_b, t_w, v))
    if ran is None:
        return None
    return result_from_timeline(compiled.timeline_of(program, *ran), compiled.peaks_of(program))


def _simulate(schedule: Schedule, costs: CostModel | None) -> SimResult:
    costs = costs or CostModel()
    p, v = schedule.p, schedule.v
    t_f, t_b, t_w = (costs.per_rank(n, p) for n in ("t_f", "t_b", "t_w"))
    message = costs.message_time()
    split = [schedule.weight_split(r) for r in range(p)]
    place = [schedule.place_of(s) for s in range(schedule.num_stages)]

    def duration(rank: int, key: TaskKey) -> float:
        kind, stage, mb = key
        if kind == "F":
            return t_f[rank] / v
        if kind == "W":
            return t_w[rank] / v
        whole = not schedule.split_backward and (place[stage][1], mb) not in split[rank]
        return (t_b[rank] + t_w[rank] if whole else t_b[rank]) / v

    # Tasks become integers (their index in `keys`) for the event loop: dicts keyed by small ints
    # stay compact, while 10^5 tuple keys spill out of the CPU caches and cost 2-3x per lookup.
    keys: list[TaskKey] = []
    ids: dict[TaskKey, int] = {}
    tasks = [rank_tasks(schedule, rank) for rank in range(p)]
    for rank_list in tasks:
        for key, _ in rank_list:
            ids[key] = len(keys)
            keys.append(key)
    lists = [[ids[key] for key, _ in rank_list] for rank_list in tasks]
    delayed: list[list[tuple[int, float]]] = [[] for _ in keys]
    for rank, rank_list in enumerate(tasks):
        for key, deps in rank_list:  # each task's (dependency, message delay), worked out once
            delayed[ids[key]] = [(_id_of(d, ids, keys), 0.0 if place[d[1]][0] == rank else message)
                                 for d in deps]
    try:
        done = run_task_lists(lists, lambda rank, i: duration(rank, keys[i]),
                              lambda rank, i: delayed[i] if i < len(delayed) else [])
    except Deadlock as stuck:  # name the tasks again, not their numbers
        raise Deadlock({r: (keys[t], [keys[d] for d in miss]) for r, (t, miss) in
                        stuck.waiting.items()}, {keys[t]: v for t, v in stuck.done.items()}) from None
    events = [Event(r, keys[i][0], keys[i][2], place[keys[i][1]][1], start, end)
              for i, (r, start, end) in done.items()]
    return result_from_timeline(Timeline(events, p))


def _id_of(key: TaskKey, ids: dict[TaskKey, int], keys: list[TaskKey]) -> int:
    """A dependency's number; one no rank runs (a broken schedule) gets a number never done."""
    if key not in ids:
        ids[key] = len(keys)
        keys.append(key)
    return ids[key]


def result_from_timeline(timeline: Timeline, peaks: list[int] | None = None) -> SimResult:
    """The metrics of ``timeline``; ``peaks``: its ``peak_inflight`` per rank, if known."""
    ranks = range(timeline.world_size)
    return SimResult(timeline=timeline, makespan=timeline.makespan,
                     bubble_fraction=timeline.bubble_fraction(),
                     busy=[timeline.busy(r) for r in ranks],
                     idle=[timeline.idle(r) for r in ranks],
                     peak_inflight=peaks if peaks is not None else
                     [timeline.peak_inflight(r) for r in ranks])



# --------------------------------------------------------------------------------------------------
# Chapter 1: one training step split by TP or by PP over n ranks (the crossover plot's theory)
# --------------------------------------------------------------------------------------------------
def allreduce_time(n: int, nbytes: float, latency_s: float = 0.0,
                   bandwidth_Bps: float = math.inf) -> float:
    """A ring all-reduce of ``nbytes`` over ``n`` ranks in the alpha-beta model (Thakur, Rabenseifner
    & Gropp 2005): 2(n-1) steps, each paying one latency and moving nbytes/n, i.e.
    2(n-1)*alpha + 2(n-1)/n * nbytes / beta. The same alpha and beta price a point-to-point message
    at alpha + nbytes / beta (chapters 1 and 3), and ``ppedu.runtime.comm`` emulates exactly this."""
    if n <= 1:
        return 0.0
    return 2 * (n - 1) * latency_s + 2 * (n - 1) / n * nbytes / bandwidth_Bps


def tp_step_time(compute_s: float, layers: int, n: int, latency_s: float = 0.0,
                 allreduce_bytes: float = 0.0, bandwidth_Bps: float = math.inf) -> float:
    """Megatron TP over ``n`` ranks: every layer's compute split n ways (``compute_s / n``), plus
    4 all-reduces per layer (g after attention and MLP forward, f before them backward), each on
    the critical path and priced by ``allreduce_time``. Nothing is overlapped: Megatron-LM hides
    the backward all-reduces behind the weight-gradient GEMM, which this model leaves out (an
    upper bound for TP). One rank (n = 1) talks to nobody."""
    return compute_s / n + 4 * layers * allreduce_time(n, allreduce_bytes, latency_s, bandwidth_Bps)


def pp_step_time(compute_s: float, n: int, m: int = 1, latency_s: float = 0.0,
                 activation_bytes: float = 0.0, bandwidth_Bps: float = math.inf) -> float:
    """GPipe over ``n`` stages with ``m`` micro-batches, *simulated*: each stage's forward +
    backward of one micro-batch costs ``compute_s / (n m)``, each message ``latency_s`` +
    (``activation_bytes`` / m) / bandwidth. The bubble and the exposed messages fall out."""
    per_action = compute_s / (2 * n * m)                 # t_f = t_b: GPipe's makespan only sees the sum
    costs = CostModel(t_f=per_action, t_b=per_action, latency_s=latency_s,
                      bandwidth_Bps=bandwidth_Bps, message_bytes=activation_bytes / m)
    return simulate(build("gpipe", n, m), costs).makespan
