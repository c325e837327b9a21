"""Notebook 02, exercise 3: fix seed 002's 1F1B table until the validator accepts it.

The exercise keeps the seed's own numbering (micro-batches 1-4, ``F_1`` ... ``B_4``), so a table
numbered from 0 is a different answer and is rejected with a message that says so; the check
never shows a correct table.
"""

from __future__ import annotations

from ppedu.notebook.checks.schedules import OK
from ppedu.notebook.grading import grader

P = M = 4


@grader
def check_seed_fix(my_table: str) -> None:
    """Is ``my_table`` (Markdown, like seed 002's) a 1F1B step for 4 GPUs and micro-batches 1-4
    that the validator accepts? Prints the time steps it takes beside the minimum."""
    from ppedu.errors import UsageError
    from ppedu.schedules.theory import min_makespan
    from ppedu.schedules.validator import parse_markdown_table, validate

    try:
        mine = parse_markdown_table(my_table)
    except UsageError as exc:
        raise AssertionError(f"Your table does not parse: {exc}") from None
    numbers = {a.mb for actions in mine.schedule.ranks for a in actions}
    if not mine.one_based and 0 not in numbers:
        raise AssertionError(f"Your table has no micro-batch 1 (it starts at {min(numbers)}): keep "
                             f"micro-batches 1-{M}, each forward and backward once on every GPU.")
    if not mine.one_based:
        raise AssertionError("Your table numbers the micro-batches from 0; this exercise keeps seed "
                             f"002's numbering, micro-batches 1-{M} (F_1 ... B_{M}): number them 1..{M}.")
    if mine.schedule.p != P or mine.schedule.m != M:
        raise AssertionError(f"Keep {P} GPUs (GPU0..GPU{P - 1}) and micro-batches 1-{M}: your table has "
                             f"{mine.schedule.p} GPU column(s) and micro-batches 1-{mine.schedule.m}.")
    verdict = validate(mine)
    if not verdict.ok:
        raise AssertionError(verdict.message)
    print(f"{OK} {verdict.message} Your table takes {mine.timeline().makespan:g} time steps; the "
          f"minimum is {min_makespan(P, M, 1, 1):g}.")
