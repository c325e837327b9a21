"""`ppedu grade` on notebook 00 cannot be gamed: empty answers, `pass`, wrong answers with the check
cells deleted or edited, wrong answers that patch the checkers from inside the answer cell, and a
submission that reads another's file all score 0 with a reason; the solved notebook scores full marks.
One grading run for the whole class (running notebooks is slow: each submission runs the chapter
twice), so one submission covers what does not interfere: a stub and a `pass` (blank), checks deleted
and edited (tampered)."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from conftest import write_submission
from ppedu.cli import main
from ppedu.instructor.autograde.sandbox import bwrap_works
from ppedu.instructor.student_copy import student_notebook

pytestmark = pytest.mark.ranks

ROOT = Path(__file__).resolve().parents[2]
NAME = "00_setup.ipynb"
PATCH = ("import builtins, ppedu.notebook.checks.schedules as ex, ppedu.notebook.grading as g\n"
         "ex.check_bubble_formula = lambda *a, **k: print('✓')\n"
         "builtins.abs = lambda x: 0\n"
         "g.exercise = lambda n: __import__('contextlib').nullcontext()\n")
AT_CALL = ("def naive_bubble(p):                              # wrong, and it fixes the checks\n"
           "    import builtins, math\n"
           "    math.isclose = lambda *a, **k: True                # patched while the checks call it\n"
           "    builtins.abs = lambda x: 0\n"
           "    return 0.5\n")
SPY = ("import json, pathlib\n"
       "def my_bubble(timeline):          # copies alice's answer at grading time\n"
       "    cells = json.loads(pathlib.Path({alice!r}).read_text())['cells']\n"
       "    source = next(''.join(c['source']) for c in cells if 'def my_bubble' in ''.join(c['source']))\n"
       "    found = {{}}\n"
       "    exec(source, found)\n"
       "    return found['my_bubble'](timeline)\n")


def _class(folder: Path) -> dict[str, Path]:
    instructor = nbformat.read(ROOT / "notebooks" / NAME, as_version=4)
    solved = {c.metadata["exercise"]: c.source for c in instructor.cells if "answer" in c.metadata.get("tags", [])}
    cases = {
        "solved": (solved, None),
        "blank": ({2: "pass"}, None),                   # exercise 1 keeps the student copy's stub
        "tampered": ({1: "def my_bubble(timeline):\n    return 0.5", 2: "def naive_bubble(p):\n    return 0.5"},
                     {1: "delete", 2: "edit"}),
        "patched": ({1: PATCH + "def my_bubble(timeline):\n    return 0.5",
                     2: PATCH + AT_CALL}, None),
        "spy": ({1: SPY.format(alice=str(folder / "solved" / NAME)), 2: "pass"}, None),
    }
    return {student: write_submission(student_notebook(instructor)[0], folder / student / NAME, answers, checks)
            for student, (answers, checks) in cases.items()}


@pytest.fixture(scope="module")
def scores(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("class")
    paths = _class(folder)
    out = folder.parent / "scores.csv"
    assert main(["grade", *map(str, paths.values()), "--csv", str(out), "--source", str(ROOT / "notebooks"),
                 "--cell-timeout", "120"]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    return {(r["student"], r["exercise"][:10]): r for r in rows}


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_solved_scores_full_marks(scores) -> None:
    assert [scores[("solved", f"Exercise {n}")]["score"] for n in (1, 2)] == ["1", "1"], \
        [scores[("solved", f"Exercise {n}")]["message"] for n in (1, 2)]


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("student", ["blank", "tampered", "patched"])
def test_gamed_submissions_score_zero_with_a_reason(scores, student: str) -> None:
    for n in (1, 2):
        row = scores[(student, f"Exercise {n}")]
        assert row["score"] == "0", row
        assert row["message"] and row["message"] != "ok", row
    if student == "blank":
        assert scores[(student, "Exercise 1")]["message"] == "not answered"
        assert "defines no `naive_bubble`" in scores[(student, "Exercise 2")]["message"]
    if student == "patched":
        assert "changed the checking code" in scores[(student, "Exercise 2")]["message"], \
            scores[(student, "Exercise 2")]
    if student == "tampered":   # one check cell deleted, one edited: both counted
        checks = [c for c in student_notebook(nbformat.read(ROOT / "notebooks" / NAME, as_version=4))[0].cells
                  if "check" in c.metadata.get("tags", [])]
        assert scores[(student, "Exercise 1")]["locked_cells"].startswith(
            f"{len(checks)} locked cell(s) edited or deleted"), scores[(student, "Exercise 1")]
    else:
        assert scores[(student, "Exercise 1")]["locked_cells"] == "as released"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_submission_cannot_read_another(scores) -> None:
    if not bwrap_works():
        pytest.skip("no bubblewrap here: the plain sandbox does not hide other submissions")
    row = scores[("spy", "Exercise 1")]   # in the plain sandbox this copy of alice's answer scores 1
    assert row["score"] == "0" and "FileNotFoundError" in row["message"], row
