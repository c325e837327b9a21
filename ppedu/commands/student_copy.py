"""``ppedu student-copy [--src notebooks] [--out student]``: the notebooks with solutions stripped
(``# BEGIN SOLUTION`` ... ``# END SOLUTION`` become ``# YOUR CODE HERE`` + ``raise
NotImplementedError``) and outputs cleared. The logic lives in ``ppedu.notebook.student_copy``."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "write the course notebooks with solutions stripped"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--src", default="notebooks",
                        help="folder with the solved notebooks (default: notebooks)")
    parser.add_argument("--out", default="student",
                        help="folder for the student copy (default: student)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from ppedu.notebook.student_copy import make_student_copy

    written = make_student_copy(args.src, args.out)
    if args.json:
        print(json.dumps({"src": args.src, "out": args.out,
                          "notebooks": [{"path": str(p), "solutions_stripped": n}
                                        for p, n in written]}))
        return 0
    if not written:
        print(f"no notebooks in {args.src}/ (nothing written)", file=sys.stderr)
    for path, blocks in written:
        print(f"{path}: {blocks} solution block(s) stripped, outputs cleared")
    return 0
