"""Pipeline schedules as data, and everything that reads them without running them (no torch here).

    actions     Action (F/B/W of a micro-batch on a model chunk), Schedule, the builders
    validator   checks a schedule and explains the first broken dependency
    tables      the Markdown schedule tables a student writes by hand
    simulator   discrete-event simulation of a schedule against a cost model
    theory      closed-form bubbles and memory
    timeline    Event and Timeline: simulated and measured runs share this type
"""

from ppedu.schedules.actions import SCHEDULE_NAMES, Action, Schedule, build_schedule

__all__ = ["SCHEDULE_NAMES", "Action", "Schedule", "build_schedule"]
