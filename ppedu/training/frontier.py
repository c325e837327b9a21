"""The schedule frontier: every schedule's bubble, peak activation memory and messages per step,
measured on real ranks beside the simulator's prediction, at one p and m.

    points = frontier(p=4, m=8)          # timed workload, T_F = T_B = T_W
    print(frontier_table(points))       # Markdown, for the book and the notebook
    plots.frontier(points)              # bubble vs memory, bubble vs messages
    frontier(p=4, m=8, costs=UNEQUAL)   # the Zero Bubble paper's T_W < T_F < T_B
    print(costs_table(4, 8))            # simulated: both cost settings, with the lower bound

No schedule wins on all three axes: that is the trade-off a practitioner picks from. Measured:
the bubble from the ranks' recorded timeline; the peak from the same timeline (micro-batches
whose activations a rank holds, in units of one micro-batch through all of that rank's layers,
i.e. held chunks / v); the messages from the P2P counters of ``ppedu.runtime.comm`` (payload
sends, headers not counted). Simulated: the same three read off ``simulate`` and the schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

from ppedu.schedules.actions import Schedule
from ppedu.schedules import build_schedule
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.schedules.theory import min_bubble_split, min_makespan_split
from ppedu.training.config import TrainConfig
from ppedu.i18n.messages import _

# (name, v) in the order the course introduces them
SCHEDULES = (("gpipe", 1), ("1f1b", 1), ("interleaved", 2), ("looped-bfs", 2), ("zb1", 1),
             ("zb2", 1), ("interleaved-zb", 2), ("zbv", 2), ("dualpipev", 2))
EQUAL = (1.0, 1.0, 1.0)      # T_F : T_B : T_W, the Zero Bubble paper's handcrafted setting
UNEQUAL = (1.0, 1.5, 0.5)    # its measured ordering T_W < T_F < T_B, same total per micro-batch


@dataclass
class FrontierPoint:
    schedule: str
    v: int
    measured_bubble: float
    simulated_bubble: float
    measured_peak: float        # max over ranks, micro-batches' worth of one rank's layers
    simulated_peak: float
    measured_messages: int      # P2P payload messages in one step, all ranks
    simulated_messages: int
    step_time_s: float
    p: int = 0
    m: int = 0
    costs: tuple[float, float, float] = EQUAL   # T_F : T_B : T_W

    @property
    def label(self) -> str:
        return self.schedule + (f" v={self.v}" if self.v > 1 and self.schedule in
                                ("interleaved", "looped-bfs", "interleaved-zb") else "")


def messages_per_step(schedule: Schedule) -> int:
    """Activations and gradients that cross from one rank to another in one step: one per F
    whose next stage lives elsewhere, one per B whose previous stage does."""
    count = 0
    for rank, actions in enumerate(schedule.ranks):
        for unit in (u for a in actions for u in a.units):
            before, after = schedule.neighbours(rank, unit.chunk)
            target = after if unit.kind == "F" else before if unit.kind == "B" else None
            count += target is not None and target != rank
    return count


def simulated_point(name: str, p: int, m: int, v: int, t: float = 1.0,
                    costs: tuple[float, float, float] = EQUAL,
                    schedule: Schedule | None = None) -> FrontierPoint:
    """The simulator's side alone (no ranks needed): T_F, T_B, T_W = t x ``costs``. ``zb2`` is
    ordered for those costs, as the ranks would run it. ``schedule``: the one a run's spec already
    built for these costs (``RunSpec.built_schedule``), else it is built here."""
    model = CostModel(*(t * c for c in costs))
    if schedule is None:
        schedule = build_schedule(name, p, m, v, model)
    sim = simulate(schedule, model)
    peak = max(sim.peak_inflight) / schedule.v
    return FrontierPoint(name, schedule.v, float("nan"), sim.bubble_fraction, float("nan"), peak,
                         0, messages_per_step(schedule), sim.makespan, p, m, tuple(costs))


def frontier(p: int = 4, m: int = 8, t_ms: float = 10.0, group=None,
             schedules=SCHEDULES, costs: tuple[float, float, float] = EQUAL) -> list[FrontierPoint]:
    """Run every schedule once on ``group`` (default: a warm cluster of p ranks), timed workload
    with T_F, T_B, T_W = ``t_ms`` x ``costs``, and pair each measurement with the simulator's."""
    from ppedu.training.engine import train  # torch: simulated_point runs without it
    tf, tb, tw = (t_ms * c for c in costs)
    points = []
    for name, v in schedules:
        result = train(TrainConfig(name, p, m, v=v, workload="timed", tf_ms=tf, tb_ms=tb,
                                   tw_ms=tw), group=group)
        v = result.config.v      # the spec built the schedule for these costs (zb2's order too)
        simulated = simulated_point(name, p, m, v, costs=costs, schedule=result.config.built_schedule)
        points.append(FrontierPoint(
            name, v, result.measured_bubble_fraction, result.simulated_bubble_fraction,
            max(r.peak_inflight_microbatches for r in result.per_rank) / v,
            simulated.simulated_peak, sum(r.messages_sent for r in result.per_rank),
            simulated.simulated_messages, result.step_time_s, p, m, tuple(costs)))
    return points


def costs_table(p: int = 4, m: int = 8, settings=(EQUAL, UNEQUAL), schedules=SCHEDULES) -> str:
    """Markdown, simulated: each schedule's step (in units of T_F) and bubble under each
    T_F : T_B : T_W setting, its peak and messages under the last, and a last row with the
    shortest flushed step any one-chunk split-backward order can reach
    (``theory.min_makespan_split``), the floor for ZB-H1 and ZB-H2."""
    names = [":".join(f"{c:g}" for c in costs) for costs in settings]
    head = "".join(f" step, {n} | bubble, {n} |" for n in names)
    lines = [f"| schedule |{head} peak activations, {names[-1]} | messages / step |",
             "|---|" + "---|---|" * len(settings) + "---|---|"]
    for name, v in schedules:
        points = [simulated_point(name, p, m, v, costs=costs) for costs in settings]
        cells = "".join(f" {pt.step_time_s:g} | {pt.simulated_bubble:.3f} |" for pt in points)
        lines.append(f"| {points[-1].label} |{cells} {points[-1].simulated_peak:g} | "
                     f"{points[-1].simulated_messages} |")
    bound = "".join(f" {min_makespan_split(p, m, *c):g} | {min_bubble_split(p, m, *c):.3f} |"
                    for c in settings)
    lines.append(f"| lower bound, one chunk, split backward |{bound} | |")
    return "\n".join(lines)


def frontier_table(points: list[FrontierPoint]) -> str:
    """Markdown: one row per schedule, measured beside simulated."""
    lines = [_("| schedule | bubble measured | bubble simulated | peak activations measured | simulated | "
               "messages / step measured | simulated |"),
             "|---|---|---|---|---|---|---|"]
    for pt in points:
        lines.append(f"| {pt.label} | {pt.measured_bubble:.3f} | {pt.simulated_bubble:.3f} | "
                     f"{pt.measured_peak:g} | {pt.simulated_peak:g} | {pt.measured_messages} | "
                     f"{pt.simulated_messages} |")
    return "\n".join(lines)
