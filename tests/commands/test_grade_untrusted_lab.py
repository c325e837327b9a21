"""`ppedu grade` on the lab notebook (06) cannot be gamed: empty or `pass` answers, wrong answers with
the check cells deleted or edited, and wrong answers that patch the lab's grader from their cell all
score 0 with a reason; the solved notebook scores full marks (hidden check included). One grading
run for the four submissions (each runs the lab twice: slow); one of them has the checks of two
exercises deleted and of the other two edited."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from conftest import write_submission
from ppedu.cli import main
from ppedu.instructor.student_copy import student_notebook

pytestmark = pytest.mark.ranks

ROOT = Path(__file__).resolve().parents[2]
NAME = "06_build_your_pipeline.ipynb"
WRONG = {  # one answer cell after another: exercise 3 has two (one_f_one_b, then the prediction)
    1: ["def train_step_afab(stage):\n    pass"],
    2: ["def train_step_1f1b(stage):\n    pass"],
    3: ["def one_f_one_b(stage, warmup):\n    pass", "prediction = {}"],
    4: ["def train_step_interleaved(stage):\n    pass"],
}
PATCH = ("import ppedu.lab, ppedu.lab.grader as lab_grader, ppedu.notebook.checks.lab as ex\n"
         "class Passed:\n    ok, message = True, 'ok'\n"
         "lab_grader.grade = ppedu.lab.grade = grade = lambda *a, **k: Passed()\n"
         "ex.check_warmup_prediction = check_warmup_prediction = lambda *a, **k: None\n")


def _write(folder: Path, student: str, answers: dict[int, list[str]], checks: dict | None = None) -> Path:
    nb, _ = student_notebook(nbformat.read(ROOT / "notebooks" / NAME, as_version=4))
    return write_submission(nb, folder / student / NAME, answers, checks)


@pytest.fixture(scope="module")
def scores(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("lab_class")
    solved = nbformat.read(ROOT / "notebooks" / NAME, as_version=4)
    answers: dict[int, list[str]] = {}
    for cell in solved.cells:
        if "answer" in cell.metadata.get("tags", []):
            answers.setdefault(cell.metadata["exercise"], []).append(cell.source)
    paths = [_write(folder, "solved", answers),
             _write(folder, "blank", {3: ["pass", "pass"], 4: ["pass"]}),        # 1, 2 left empty
             _write(folder, "tampered", WRONG, {1: "delete", 2: "edit", 3: "delete", 4: "edit"}),
             _write(folder, "patched", {n: [PATCH + a for a in v] for n, v in WRONG.items()})]
    out = folder.parent / "lab_scores.csv"
    assert main(["grade", *map(str, paths), "--csv", str(out), "--source", str(ROOT / "notebooks"),
                 "--cell-timeout", "180"]) == 0
    return {(r["student"], r["exercise"][:10]): r for r in csv.DictReader(out.open(encoding="utf-8"))}


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_the_solved_lab_scores_full_marks(scores) -> None:
    assert [scores[("solved", f"Exercise {n}")]["score"] for n in (1, 2, 3, 4)] == ["1"] * 4, scores


@pytest.mark.slow
@pytest.mark.timeout(2400)
@pytest.mark.parametrize("student", ["blank", "tampered", "patched"])
def test_gamed_lab_submissions_score_zero_with_a_reason(scores, student: str) -> None:
    for n in (1, 2, 3, 4):
        row = scores[(student, f"Exercise {n}")]
        assert row["score"] == "0" and row["message"] not in ("", "ok"), row
    if student == "blank":
        assert scores[(student, "Exercise 1")]["message"] == "not answered"
        assert "defines no `train_step_interleaved`" in scores[(student, "Exercise 4")]["message"]
    locked = scores[(student, "Exercise 1")]["locked_cells"]
    assert ("edited or deleted" in locked) == (student == "tampered"), locked
    if student == "tampered":   # two check cells deleted, two edited: all counted
        checks = [c for c in student_notebook(nbformat.read(ROOT / "notebooks" / NAME, as_version=4))[0].cells
                  if "check" in c.metadata.get("tags", [])]
        assert locked.startswith(f"{len(checks)} locked cell(s) edited or deleted"), locked
