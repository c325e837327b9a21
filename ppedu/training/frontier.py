"""The schedule frontier: every schedule's bubble, peak activation memory and messages per step,
measured on real ranks beside the simulator's prediction, at one p and m.

    points = frontier(p=4, m=8)          # timed workload, T_F = T_B = T_W
    print(frontier_table(points))       # Markdown, for the book and the notebook
    plots.frontier(points)              # bubble vs memory, bubble vs messages

No schedule wins on all three axes: that is the trade-off a practitioner picks from. Measured:
the bubble from the ranks' recorded timeline; the peak from the same timeline (micro-batches
whose activations a rank holds, in units of one micro-batch through all of that rank's layers,
i.e. held chunks / v); the messages from the P2P counters of ``ppedu.runtime.comm`` (payload
sends, headers not counted). Simulated: the same three read off ``simulate`` and the schedule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ppedu.schedules.actions import Schedule
from ppedu.schedules import build_schedule
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.training.config import TrainConfig

# (name, v) in the order the course introduces them
SCHEDULES = (("gpipe", 1), ("1f1b", 1), ("interleaved", 2), ("looped-bfs", 2), ("zb1", 1),
             ("zb2", 1), ("interleaved-zb", 2), ("zbv", 2), ("dualpipev", 2))


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


def simulated_point(name: str, p: int, m: int, v: int, t: float = 1.0) -> FrontierPoint:
    """The simulator's side alone (no ranks needed), T_F = T_B = T_W = t."""
    schedule = build_schedule(name, p, m, v)
    sim = simulate(schedule, CostModel(t, t, t))
    peak = max(sim.peak_inflight) / schedule.v
    return FrontierPoint(name, schedule.v, float("nan"), sim.bubble_fraction, float("nan"), peak,
                         0, messages_per_step(schedule), sim.makespan, p, m)


def frontier(p: int = 4, m: int = 8, t_ms: float = 10.0, group=None,
             schedules=SCHEDULES) -> list[FrontierPoint]:
    """Run every schedule once on ``group`` (default: a warm cluster of p ranks), timed workload
    with T_F = T_B = T_W = ``t_ms``, and pair each measurement with the simulator's."""
    from ppedu.training.engine import train  # torch: simulated_point runs without it
    points = []
    for name, v in schedules:
        result = train(TrainConfig(name, p, m, v=v, workload="timed", tf_ms=t_ms, tb_ms=t_ms,
                                   tw_ms=t_ms), group=group)
        v = result.config.v
        simulated = simulated_point(name, p, m, v)
        points.append(FrontierPoint(
            name, v, result.measured_bubble_fraction, result.simulated_bubble_fraction,
            max(r["peak_inflight_microbatches"] for r in result.per_rank) / v,
            simulated.simulated_peak, sum(r["messages_sent"] for r in result.per_rank),
            simulated.simulated_messages, result.step_time_s, p, m))
    return points


def frontier_table(points: list[FrontierPoint]) -> str:
    """Markdown: one row per schedule, measured beside simulated."""
    lines = ["| schedule | bubble measured | bubble simulated | peak activations measured "
             "| simulated | messages / step measured | simulated |",
             "|---|---|---|---|---|---|---|"]
    for pt in points:
        lines.append(f"| {pt.label} | {pt.measured_bubble:.3f} | {pt.simulated_bubble:.3f} | "
                     f"{pt.measured_peak:g} | {pt.simulated_peak:g} | {pt.measured_messages} | "
                     f"{pt.simulated_messages} |")
    return "\n".join(lines)


def frontier_json(points: list[FrontierPoint]) -> list[dict]:
    return [asdict(pt) | {"label": pt.label} for pt in points]
