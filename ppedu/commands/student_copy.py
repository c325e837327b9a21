"""``ppedu student-copy [--src notebooks] [--out student]``: the notebooks with solutions stripped
(``# BEGIN SOLUTION`` ... ``# END SOLUTION`` become ``# YOUR CODE HERE`` + ``raise NotAnswered(...)``,
or ``name = Blank(...)`` for a value), check cells locked, hidden checks dropped, outputs cleared.
The logic lives in ``ppedu.instructor.student_copy``."""

from __future__ import annotations

import argparse
import json
import sys

from ppedu.instructor.student_copy import make_student_copy
from ppedu.i18n.messages import _


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--src", default="notebooks",
                        help=_("folder with the solved notebooks (default: notebooks)"))
    parser.add_argument("--out", default="student",
                        help=_("folder for the student copy (default: student)"))
    parser.add_argument("--keep-existing", action="store_true",
                        help=_("leave notebooks already in --out alone (never overwrite a student's work)"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON object"))


def run(args: argparse.Namespace) -> int:
    written = make_student_copy(args.src, args.out, keep_existing=args.keep_existing)
    if args.json:
        print(json.dumps({"src": args.src, "out": args.out,
                          "notebooks": [{"path": str(p), "solutions_stripped": n}
                                        for p, n in written]}))
        return 0
    if not written:
        why = _("every notebook is already there, kept as it is") if args.keep_existing else _("no notebooks")
        print(_("{out}/: nothing written ({why})").format(out=args.out, why=why), file=sys.stderr)
    for path, blocks in written:
        print(_("{path}: {blocks} solution block(s) stripped, outputs cleared").format(path=path, blocks=blocks))
    return 0
