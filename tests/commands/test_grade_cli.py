"""`ppedu grade`: the instructor's checks on the student's answers, one CSV row per student and
exercise; a hanging cell costs its own exercise only; edited check cells change nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell, new_notebook

from conftest import exercise_cell as _cell
from ppedu.cli import main
from ppedu.instructor.student_copy import student_notebook

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def _instructor(folder: Path) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[
        new_markdown_cell("# Homework"),
        _cell("x = 2\nfrom ppedu.notebook.grading import Blank, NotAnswered, exercise"),
        new_markdown_cell("**Exercise 1 · Add.** Write `add(a, b)`."),
        _cell("def add(a, b):\n    # BEGIN SOLUTION\n    return a + b\n    # END SOLUTION", "answer", 1),
        _cell("with exercise(1):\n    assert add(x, 2) == 4, 'add(2, 2) must be 4'", "check", 1),
        _cell("with exercise(1):\n    assert add(-3, 10) == 7, 'add(-3, 10) must be 7'", "hidden-check", 1),
        new_markdown_cell("**Exercise 2 · Loop.** Sum 0..3."),
        _cell("# BEGIN SOLUTION\ntotal = sum(range(4))\n# END SOLUTION", "answer", 2),
        _cell("with exercise(2):\n    assert total == 6", "check", 2),
        new_markdown_cell("**Exercise 3 · Still graded after a hang.**"),
        _cell("def twice(a):\n    # BEGIN SOLUTION\n    return 2 * a\n    # END SOLUTION", "answer", 3),
        _cell("with exercise(3):\n    assert twice(x) == 4", "check", 3),
    ], metadata=KERNEL)
    folder.mkdir(exist_ok=True)
    nbformat.write(nb, folder / "hw.ipynb")
    return nb


def _submission(path: Path, instructor, answers: dict[int, str], edit=None) -> Path:
    nb, _ = student_notebook(instructor)
    found = [c for c in nb.cells if "answer" in c.metadata.get("tags", [])]
    for cell in found:
        if cell.metadata["exercise"] in answers:
            cell.source = answers[cell.metadata["exercise"]]
    if edit:
        edit(nb)
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


def _grade(tmp_path: Path, *paths: Path, extra=()) -> dict:
    out = tmp_path / "scores.csv"
    assert main(["grade", *map(str, paths), "--source", str(tmp_path / "src"), "--csv", str(out),
                 "--cell-timeout", "8", *extra]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    return {(r["student"], r["exercise"][:10]): (int(r["score"]), r["message"], r["locked_cells"])
            for r in rows}


@pytest.mark.ranks
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_grade_the_instructors_checks_on_the_answers(tmp_path: Path) -> None:
    src = _instructor(tmp_path / "src")
    sub = tmp_path / "class"
    alice = _submission(sub / "alice.ipynb", src, {1: "def add(a, b):\n    return a + b",
                                                   2: "total = sum(range(4))",
                                                   3: "def twice(a):\n    return a + a"})
    blank = _submission(sub / "blank.ipynb", src, {})

    def unlock(nb):  # wrong answers and their check cells edited away
        for cell in nb.cells:
            if "check" in cell.metadata.get("tags", []):
                cell.source = "pass"
    bob = _submission(sub / "bob.ipynb", src, {1: "def add(a, b):\n    return 4",   # fits the visible case
                                               2: "import time\ntime.sleep(60)",
                                               3: "def twice(a):\n    return 2 * a"}, unlock)
    def chinese(nb):  # the Chinese student copy states its language
        nb.metadata["ppedu_lang"] = "zh"
    zhou = _submission(sub / "zhou.ipynb", src, {   # patches math while the check calls it; `total` missing
        1: "def add(a, b):\n    import math\n    math.isclose = None\n    return a + b", 2: "pass"}, chinese)
    table = _grade(tmp_path, alice, blank, bob, zhou)
    assert {k: v[:2] for k, v in table.items() if k[0] == "alice"} == {
        ("alice", "Exercise 1"): (1, "ok"), ("alice", "Exercise 2"): (1, "ok"), ("alice", "Exercise 3"): (1, "ok")}
    assert all(table[("blank", f"Exercise {n}")][:2] == (0, "not answered") for n in (1, 2, 3))
    assert table[("bob", "Exercise 1")][:2] == (0, "hidden check: AssertionError: add(-3, 10) must be 7")
    score, message, locked = table[("bob", "Exercise 2")]
    assert score == 0 and "defines no `total`" in message and "ran past its time limit" in message
    assert table[("bob", "Exercise 3")][:2] == (1, "ok")
    assert locked.startswith("3 locked cell(s) edited") and table[("alice", "Exercise 1")][2] == "as released"
    # zhou's feedback is Chinese: the grader's words and the kernel's (verify ran in Chinese)
    assert table[("zhou", "Exercise 1")][:2] == (0, "答案改动了检查代码：math.isclose")
    assert table[("zhou", "Exercise 2")][:2] == (0, "答题单元格没有定义 `total`")
    assert table[("zhou", "Exercise 3")] == (0, "未作答", "与发布时一致")


def test_grade_refuses_what_is_not_a_notebook(tmp_path: Path, capsys) -> None:
    assert main(["grade", str(tmp_path / "nothing.txt"), "--csv", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "SUBMISSIONS must be .ipynb files" in err and len(err.strip().splitlines()) == 1


def test_grade_refuses_a_bad_sandbox_or_source(tmp_path: Path, capsys) -> None:
    src = _instructor(tmp_path / "src")
    sub = _submission(tmp_path / "class" / "alice.ipynb", src, {})
    assert main(["grade", str(sub), "--source", str(tmp_path / "src"), "--sandbox", "docker",
                 "--csv", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "--sandbox must be one of auto, bwrap, plain (got 'docker')" in err and len(err.strip().splitlines()) == 1
    assert main(["grade", str(sub), "--source", str(tmp_path / "nowhere"), "--csv", str(tmp_path / "o.csv")]) == 2
    assert "--source" in capsys.readouterr().err


@pytest.mark.ranks
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_plain_sandbox_and_memory_limit(tmp_path: Path) -> None:
    """Without bubblewrap (`--sandbox plain`) grading works the same; an answer that allocates past
    `--memory-mb` costs its own exercise (MemoryError), not the notebook."""
    src = _instructor(tmp_path / "src")
    carol = _submission(tmp_path / "class" / "carol.ipynb", src, {
        1: "def add(a, b):\n    return a + b",
        2: "total = len(bytearray(3 * 2**30))",
        3: "def twice(a):\n    return 2 * a"})
    table = _grade(tmp_path, carol, extra=("--sandbox", "plain", "--memory-mb", "1536"))
    assert table[("carol", "Exercise 1")][:2] == (1, "ok") and table[("carol", "Exercise 3")][:2] == (1, "ok")
    score, message, _ = table[("carol", "Exercise 2")]
    assert score == 0 and "MemoryError" in message, message
