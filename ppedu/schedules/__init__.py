"""Pipeline schedules as data, and everything that reads them without running them (no torch here).

    actions           Action (F/B/W of a micro-batch on a model chunk), Schedule, task dependencies
    builders          build_schedule: one function per single-chunk schedule, the checks
    greedy            a list schedule at a memory cap: ZB-H2 ordered for unequal costs
    builders_chunked  the schedules with several chunks per rank (interleaved, ZB-V, DualPipeV)
    validator         checks a schedule and explains the first broken dependency
    tables            the Markdown schedule tables a student writes by hand
    simulator         discrete-event simulation of a schedule against a cost model
    compiled          the simulator's fast path (tasks as ints), equal to it bit for bit
    shared_cpu        ranks that share CPU cores: a processor-sharing replay
    theory            closed-form bubbles and memory
    timeline          Event and Timeline: simulated and measured runs share this type
"""

from ppedu.schedules.actions import SCHEDULE_NAMES, Action, Schedule
from ppedu.schedules.builders import build as build_schedule

__all__ = ["SCHEDULE_NAMES", "Action", "Schedule", "build_schedule"]
