"""Notebook 02, exercise 3: fix seed 002's 1F1B table until the validator accepts it.

The exercise keeps the seed's own numbering (micro-batches 1-4, ``F_1`` ... ``B_4``), so a table
numbered from 0 is a different answer and is rejected with a message that says so; the check
never shows a correct table.
"""

from __future__ import annotations

from ppedu.errors import UsageError
from ppedu.notebook.grading import OK, grader
from ppedu.schedules.theory import min_makespan
from ppedu.schedules.validator import parse_markdown_table, validate
from ppedu.i18n.messages import _

P = M = 4


@grader
def check_seed_fix(my_table: str) -> None:
    """Is ``my_table`` (Markdown, like seed 002's) a 1F1B step for 4 GPUs and micro-batches 1-4
    that the validator accepts? Prints the time steps it takes beside the minimum."""
    try:
        mine = parse_markdown_table(my_table)
    except UsageError as exc:
        raise AssertionError(_("Your table does not parse: {exc}").format(exc=exc)) from None
    numbers = {a.mb for actions in mine.schedule.ranks for a in actions}
    if not mine.one_based and 0 not in numbers:
        raise AssertionError(_("Your table has no micro-batch 1 (it starts at {first}): keep micro-batches 1-{m}, each forward and backward once on every GPU.").format(first=min(numbers), m=M))
    if not mine.one_based:
        raise AssertionError(_("Your table numbers the micro-batches from 0; this exercise keeps seed 002's numbering, micro-batches 1-{m} (F_1 ... B_{m}): number them 1..{m}.").format(m=M))
    if mine.schedule.p != P or mine.schedule.m != M:
        raise AssertionError(_("Keep {p} GPUs (GPU0..GPU{last}) and micro-batches 1-{m}: your table has {got_p} GPU column(s) and micro-batches 1-{got_m}.").format(p=P, last=P - 1, m=M, got_p=mine.schedule.p, got_m=mine.schedule.m))
    verdict = validate(mine)
    if not verdict.ok:
        raise AssertionError(verdict.message)
    print(_("{ok} {message} Your table takes {makespan:g} time steps; the minimum is {min_makespan:g}.").format(ok=OK, message=verdict.message, makespan=mine.timeline().makespan, min_makespan=min_makespan(P, M, 1, 1)))
