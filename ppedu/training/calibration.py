"""What a real-compute step spends its time on, measured, and a cost model that adds it up.

The textbook cost model knows compute only (t_f, t_b per stage). A step on real ranks also pays
  * per-action overhead: Python between two actions on one rank (posting a send, building its
    header, bookkeeping of saved activations), time in which the rank neither computes nor waits;
  * message time: from the end of the producing action to the moment the consumer holds the
    tensor, when the consumer was already waiting for it;
  * stage imbalance: stages do not cost the same (the last one computes the loss).
All three are read off the ranks' own timelines (``recv`` events are the waits the executor
recorded; action events are compute), pooled over the steps after the first (the first builds
caches and allocator pools). The calibrated ``CostModel`` charges each rank its mean compute
plus its mean overhead per action, and every message the mean measured message time, so the
simulator replays the step from its parts; ``breakdown`` splits each rank's step into compute /
overhead / messages / bubble, the four things a student reads off a real-compute Gantt chart.

Ranks that share CPU cores (4 ranks on 2 cores, or 2 ranks beside other programs) add a fourth
thing: an action's duration depends on how many ranks compute at the same time (warm-up and
cool-down run at full speed, the steady state at cores / p of it). So the replay charges each
action its *work* (CPU seconds) and shares the cores among the ranks that are ready
(``ppedu.schedules.shared_cpu``). The cores the ranks actually had are measured, not assumed:
each rank reads its thread's CPU clock over the step, and ``effective_cores`` finds the core
count under which the processor-sharing model gives the ranks exactly that much CPU (2 on an
idle 2-core machine, fewer while other programs run). With a core per rank nobody is slowed
down and the replay is the plain simulation.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace

from ppedu.schedules import shared_cpu
from ppedu.schedules.actions import rank_tasks
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.schedules.timeline import Event, Timeline

KINDS = ("F", "B", "W")


@dataclass
class Calibration:
    """Means over the measured actions: compute and overhead per rank and kind (seconds per
    action of one chunk), the time of one message, and how many messages it was read from."""
    compute_s: dict[str, list[float]] = field(default_factory=dict)
    overhead_s: dict[str, list[float]] = field(default_factory=dict)
    message_s: float = 0.0
    message_samples: int = 0
    effective_cores: float = 0.0   # cores the ranks measurably had (0: not measured, a GPU)


def _mean(values: list[float]) -> float:
    # means, not means: the simulated step must add up to the measured one, and on a shared CPU
    # the time a rank is descheduled lands in a few actions' durations, which a mean drops
    return statistics.fmean(values) if values else 0.0


def _walk(timeline: Timeline, rank: int):
    """Each compute event of ``rank`` with the waits (recv events) just before it and its
    overhead: the time since the previous action ended in which the rank neither computed nor
    waited (for the first action, the time since its last wait ended)."""
    prev_end, waits = None, []
    for e in sorted(timeline.rank_events(rank), key=lambda e: (e.start, e.end)):
        if e.kind == "recv":
            waits.append(e)
            continue
        if e.kind not in KINDS:
            continue
        waited = sum(w.end - w.start for w in waits)
        if prev_end is not None:
            overhead = max(0.0, e.start - prev_end - waited)
        else:
            overhead = max(0.0, e.start - waits[-1].end) if waits else 0.0
        yield e, waits, overhead
        prev_end, waits = e.end, []


def _producer_end(timeline_index: dict, schedule, rank: int, e) -> float | None:
    """When the action whose output ``e`` (an F or B on ``rank``) received finished."""
    stage = schedule.stage_of(rank, e.chunk)
    source = stage - 1 if e.kind == "F" else stage + 1
    if source < 0 or source >= schedule.num_stages:
        return None
    src_rank, src_chunk = schedule.place_of(source)
    if src_rank == rank:
        return None  # same rank: no message
    return timeline_index.get((src_rank, e.kind, e.mb, src_chunk))


def calibrate(timelines: list[Timeline], schedule) -> Calibration:
    """Means over ``timelines`` (pass the steps after the first when there are several)."""
    p = schedule.p
    compute = {k: [[] for _ in range(p)] for k in KINDS}
    overhead = {k: [[] for _ in range(p)] for k in KINDS}
    messages: list[float] = []
    for tl in timelines:
        index = {(e.rank, e.kind, e.mb, e.chunk): e.end for e in tl.events if e.kind in KINDS}
        for r in range(p):
            for e, waits, extra in _walk(tl, r):
                compute[e.kind][r].append(e.end - e.start)
                overhead[e.kind][r].append(extra)
                produced = _producer_end(index, schedule, r, e) if waits else None
                # the rank was already waiting when the producer finished: its wait ended when
                # the message arrived, so arrival - production is the message's time. (Waits
                # that began later also end at arrival, but on a shared CPU they mostly measure
                # a sender that was not scheduled; with them the replay overshoots by 15-35%.)
                if produced is not None and waits[-1].start < produced:
                    messages.append(max(0.0, waits[-1].end - produced))
    return Calibration({k: [_mean(x) for x in compute[k]] for k in KINDS},
                       {k: [_mean(x) for x in overhead[k]] for k in KINDS},
                       # a median: waits are where a descheduled rank shows up, and one
                       # message charged 20 ms would be charged to every hop of the replay
                       statistics.median(messages) if messages else 0.0, len(messages))


def calibrated_costs(base: CostModel, cal: Calibration, schedule, fallback_message_s: float) -> CostModel:
    """``base`` with per-rank compute + overhead (a rank's share is v chunks) and the measured
    message time as latency (the bandwidth term is then part of it, so it is switched off)."""
    def share(kind: str) -> list[float]:
        return [schedule.v * (c + o) for c, o in zip(cal.compute_s[kind], cal.overhead_s[kind])]
    t_w = share("W") if schedule.split_backward else [0.0] * len(cal.compute_s["F"])
    message = cal.message_s if cal.message_samples else fallback_message_s
    return replace(base, t_f=share("F"), t_b=share("B"), t_w=t_w, latency_s=message,
                   bandwidth_Bps=float("inf"))


@dataclass
class StepParts:
    """Where one rank's step went, in seconds; the four parts add up to the step."""
    rank: int
    compute_s: float
    overhead_s: float
    messages_s: float
    bubble_s: float


def breakdown(timeline: Timeline, cal: Calibration) -> list[StepParts]:
    """Per rank: seconds of compute, overhead (between actions, neither computing nor waiting),
    messages (the part of each wait a message in flight explains, at most ``cal.message_s`` per
    waited receive) and bubble (the rest of the step: waiting for work that was not ready)."""
    rows = []
    for r in range(timeline.world_size):
        compute = overhead = messages = 0.0
        for e, waits, extra in _walk(timeline, r):
            compute += e.end - e.start
            overhead += extra
            messages += sum(min(w.end - w.start, cal.message_s) for w in waits)
        bubble = max(0.0, timeline.makespan - compute - overhead - messages)
        rows.append(StepParts(r, compute, overhead, messages, bubble))
    return rows


@dataclass
class Replay:
    """One measured step replayed from its own parts: the simulated timeline, simulated /
    measured makespan - 1, and the cores the ranks had (None: not measured, a GPU or sleeping ranks)."""
    timeline: Timeline
    error: float
    cores: float | None


def replays(timelines: list[Timeline], schedule, base: CostModel, fallback_message_s: float,
            cpu_s: list[list[float | None]] | None = None) -> list[Replay]:
    """Each measured step (with a makespan) replayed from its own calibration. Per step, so that
    a step slowed down by a neighbour on a shared CPU is compared with its own parts, not with
    the average step. Given each step's per-rank CPU seconds ``cpu_s`` (ranks computing on the
    CPU), the replay shares the cores the ranks measurably had (``replay_shared``, each step's
    cores found once by a bisection): fewer than p when p > cores or other programs ran; without
    them (a GPU, or ranks that sleep) it is the plain simulation of the step's calibrated costs."""
    rows = []
    for i, tl in enumerate(timelines):
        if tl.makespan <= 0:
            continue
        cal = calibrate([tl], schedule)
        measured = cpu_s is not None and i < len(cpu_s) and None not in cpu_s[i]   # ranks on the CPU
        cores = effective_cores(tl, cpu_s[i]) if measured else None
        if cores is not None:
            message = cal.message_s if cal.message_samples else fallback_message_s
            simulated = replay_shared(tl, schedule, message, cores)
        else:
            costs = calibrated_costs(base, cal, schedule, fallback_message_s)
            simulated = simulate(schedule, costs).timeline
        rows.append(Replay(simulated, simulated.makespan / tl.makespan - 1, cores))
    return rows


def median(values: list[float]) -> float:
    """The middle value (the upper one of an even count), 0 for none."""
    return statistics.median_high(values) if values else 0.0


def effective_cores(timeline: Timeline, cpu_s: list[float]) -> float:
    """The cores the ranks had in this step: the C under which processor sharing (each busy rank
    gets min(1, C / n_busy) of a core) hands them the CPU seconds their clocks measured
    (``cpu_s`` per rank), by bisection; at most p (one core per single-threaded rank: then
    nobody waited for a core). No core count is assumed: ranks on several machines just measure
    a core each."""
    cores = timeline.world_size
    profile = shared_cpu.busy_profile(timeline)
    spans = [iv for r in range(timeline.world_size) for iv in shared_cpu.busy_intervals(timeline, r)]

    def given(c: float) -> float:
        return sum(shared_cpu.work_in(profile, start, end, c) for start, end in spans)
    if sum(cpu_s) >= given(cores):
        return float(cores)
    low, high = 0.01, float(cores)
    for _ in range(30):  # given() grows with c: halve the bracket
        mid = (low + high) / 2
        low, high = (mid, high) if given(mid) < sum(cpu_s) else (low, mid)
    return (low + high) / 2


def replay_shared(timeline: Timeline, schedule, message_s: float, cores: float) -> Timeline:
    """The simulated timeline of ``timeline``'s step on ``cores`` shared cores: each action costs
    its rank's mean work for its kind (CPU seconds of compute + the overhead before it, read
    off the timeline with ``cores``), messages ``message_s``; see ``shared_cpu.replay``."""
    profile = shared_cpu.busy_profile(timeline)
    work: dict[tuple[int, str], list[float]] = {}
    for r in range(schedule.p):
        for e, _, extra in _walk(timeline, r):
            work.setdefault((r, e.kind), []).append(
                shared_cpu.work_in(profile, e.start - extra, e.end, cores))
    mean = {key: _mean(values) for key, values in work.items()}
    tasks = [rank_tasks(schedule, r) for r in range(schedule.p)]
    needs = {key: deps for rank_list in tasks for key, deps in rank_list}
    done = shared_cpu.replay([[key for key, _ in rank_list] for rank_list in tasks],
                             lambda key: needs.get(key, []),
                             lambda r, key: mean.get((r, key[0]), 0.0),
                             lambda r, dep: 0.0 if schedule.place_of(dep[1])[0] == r else message_s,
                             cores)
    return Timeline([Event(r, kind, mb, schedule.place_of(stage)[1], start, end)
                     for (kind, stage, mb), (r, start, end) in done.items()], schedule.p)
