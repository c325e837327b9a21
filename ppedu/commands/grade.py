"""``ppedu grade SUBMISSIONS... --csv out.csv``: grade a class's notebooks, one row per student and
exercise (student, notebook, exercise, score, message), the way nbgrader or otter-grader would.

A submission is a notebook, or a folder of notebooks (one per student: the file or folder name is
the student). Each runs headless with errors allowed; a cell that runs past ``--cell-timeout`` is
interrupted and costs its exercise only. The logic lives in ``ppedu.notebook.autograde``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

FIELDS = ("student", "notebook", "exercise", "score", "message")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", nargs="+", help="student notebooks, or folders of them")
    parser.add_argument("--csv", required=True, help="where to write the scores")
    parser.add_argument("--cell-timeout", type=float, default=120.0,
                        help="seconds one cell may run before it is interrupted (default 120)")
    parser.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")


def _notebooks(submissions: list[str]) -> list[tuple[str, Path]]:
    from ppedu.errors import UsageError
    found = []
    for item in map(Path, submissions):
        if item.is_dir():
            found += [(f"{item.name}", nb) for nb in sorted(item.glob("*.ipynb"))]
        elif item.is_file() and item.suffix == ".ipynb":
            found.append((item.stem, item))
        else:
            raise UsageError(f"SUBMISSIONS must be .ipynb files or folders of them (got {str(item)!r})")
    if not found:
        raise UsageError(f"SUBMISSIONS hold no notebook (got {' '.join(submissions)})")
    return found


def run(args: argparse.Namespace) -> int:
    from ppedu.errors import check_float
    from ppedu.notebook.autograde import grade_notebook

    timeout = check_float("--cell-timeout", args.cell_timeout, 1.0, 86400.0)
    rows = []
    for student, path in _notebooks(args.submissions):
        print(f"grading {student}: {path} ...", file=sys.stderr)
        scores = grade_notebook(path, student, timeout, args.kernel)
        rows += scores
        print(f"  {sum(s.score for s in scores)}/{len(scores)} exercises", file=sys.stderr)
    with open(args.csv, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(FIELDS)
        for s in rows:
            writer.writerow([s.student, s.notebook, s.exercise, s.score, s.message])
    print(f"{len(rows)} row(s) written to {args.csv}")
    return 0
