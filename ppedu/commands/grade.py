"""``ppedu grade SUBMISSIONS... --csv out.csv``: grade a class's notebooks, one row per student and
exercise (student, notebook, exercise, score, message, locked_cells).

A submission is a notebook, or a folder of notebooks (one per student: the file or folder name is
the student). Each is graded with the instructor's notebook of the same name in ``--source``: only
the submission's answer cells are taken, the instructor's checks (hidden ones too) run on them in a
fresh kernel, each submission in its own sandbox (``--sandbox``: bubblewrap where it works). A cell
that runs past ``--cell-timeout`` is interrupted and costs its exercise only. The logic lives in
``ppedu.instructor.autograde.grade``; what the sandbox protects against is in ``course/instructor.md``.

Language: each submission's ``message`` and ``locked_cells`` are in the language of that submission,
its notebook metadata ``ppedu_lang`` (the Chinese student copy sets ``zh``); a notebook that does not
state one is graded in ``PPEDU_LANG`` (the grader's), else English. The submission wins because the
feedback is the student's to read, and one run may grade a class that worked in both languages. The
column names and the ``exercise`` titles (the instructor's notebook's) stay English, so the rows
of a mixed class line up.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from ppedu.errors import UsageError, check_float, check_int
from ppedu.i18n.messages import _
from ppedu.instructor.autograde.grade import Limits, grade_notebook
from ppedu.instructor.autograde.sandbox import resolve_mode

FIELDS = ("student", "notebook", "exercise", "score", "message", "locked_cells")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = _("Each submission's message and locked_cells columns are in its language: its notebook "
                      "metadata ppedu_lang (the Chinese student copy sets zh), else PPEDU_LANG, else English. "
                      "Column names and exercise titles stay English.")
    parser.add_argument("submissions", nargs="+", help=_("student notebooks, or folders of them"))
    parser.add_argument("--csv", required=True, help=_("where to write the scores"))
    parser.add_argument("--source", default="notebooks",
                        help=_("folder of the instructor's solved notebooks (default notebooks)"))
    parser.add_argument("--sandbox", default="auto", help=_("auto (bwrap if it works, else plain), bwrap or plain"))
    parser.add_argument("--cell-timeout", type=float, default=120.0,
                        help=_("seconds one cell may run before it is interrupted (default 120)"))
    parser.add_argument("--notebook-timeout", type=float, default=1800.0,
                        help=_("seconds one run of a notebook may take before it is killed (default 1800)"))
    parser.add_argument("--memory-mb", type=int, default=8192,
                        help=_("address space per process of a submission, MiB (0 = no limit; default 8192)"))


def _notebooks(submissions: list[str]) -> list[tuple[str, Path]]:
    found = []
    for item in map(Path, submissions):
        if item.is_dir():
            found += [(f"{item.name}", nb) for nb in sorted(item.glob("*.ipynb"))]
        elif item.is_file() and item.suffix == ".ipynb":
            found.append((item.stem, item))
        else:
            raise UsageError(_("SUBMISSIONS must be .ipynb files or folders of them (got {item!r})").format(item=str(item)))
    if not found:
        raise UsageError(_("SUBMISSIONS hold no notebook (got {submissions})").format(submissions=' '.join(submissions)))
    return found


def run(args: argparse.Namespace) -> int:
    if not Path(args.source).is_dir():
        raise UsageError(_("--source must be a folder of the instructor's notebooks (got {source!r})").format(source=args.source))
    notebooks = _notebooks(args.submissions)
    limits = Limits(resolve_mode(args.sandbox), check_float("--cell-timeout", args.cell_timeout, 1.0, 86400.0),
                    check_float("--notebook-timeout", args.notebook_timeout, 10.0, 864000.0),
                    check_int("--memory-mb", args.memory_mb, 0, 2**24),
                    hide=[Path(s) for s in args.submissions] + [Path(args.source), Path(args.csv)])
    print(_("sandbox: {mode}").format(mode=limits.mode), file=sys.stderr)
    rows = []
    for student, path in notebooks:
        print(_("grading {student}: {path} ...").format(student=student, path=path), file=sys.stderr)
        scores = grade_notebook(path, student, args.source, limits)
        rows += scores
        print(_("  {sum}/{scores} exercises").format(sum=sum((s.score for s in scores)), scores=len(scores)), file=sys.stderr)
    with open(args.csv, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(FIELDS)
        for s in rows:
            writer.writerow([s.student, s.notebook, s.exercise, s.score, s.message, s.locked_cells])
    print(_("{rows} row(s) written to {csv}").format(rows=len(rows), csv=args.csv))
    return 0
