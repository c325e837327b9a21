"""``ppedu validate FILE``: check a hand-written schedule (a Markdown table, one row per time
step, one column per GPU) and explain the first broken dependency.

Exit status: 0 valid, 1 invalid, 2 unreadable (the message names the failing line).
``FILE`` may be ``example:1f1b_p4_m4`` or ``example:seed002_1f1b`` for the shipped tables.
"""

from __future__ import annotations

import argparse
import json

from ppedu.errors import UsageError
from ppedu.schedules.validator import load_example, parse_markdown_table, validate
from ppedu.i18n.messages import _


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE",
                        help=_("Markdown file with the table, or example:NAME"))
    parser.add_argument("--placement", default="loop",
                        help=_("which stage a chunk is: loop (Megatron: chunk c of GPU r is stage "
                             "c*p + r, default) or v (ZB-V: chunk 1 of GPU r is stage 2p-1-r)"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON object"))


def run(args: argparse.Namespace) -> int:
    if args.file.startswith("example:"):
        timed = load_example(args.file.split(":", 1)[1])
    else:
        try:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(_("FILE: cannot read {file!r} ({exc})").format(file=args.file, exc=exc)) from None
        timed = parse_markdown_table(text, placement=args.placement)
    verdict = validate(timed)
    sched = timed.schedule
    if args.json:
        print(json.dumps({"ok": verdict.ok, "message": verdict.message,
                          "problems": verdict.problems, "p": sched.p, "m": sched.m,
                          "one_based": timed.one_based}))
        return 0 if verdict.ok else 1
    print(verdict.message)
    for extra in verdict.problems[1:]:
        print(_("  also: {extra}").format(extra=extra))
    if verdict.timeline is not None:
        print(_("\nTimeline as read ({p} GPUs, {m} micro-batches, numbered from {one_based}):").format(p=sched.p, m=sched.m, one_based=1 if timed.one_based else 0))
        print(verdict.timeline.text_gantt(unit=1.0, mb_base=1 if timed.one_based else 0))
    return 0 if verdict.ok else 1
