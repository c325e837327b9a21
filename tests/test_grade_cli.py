"""`ppedu grade`: one CSV row per student and exercise; a hanging cell costs its own exercise only."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ppedu.cli import main


def _submission(path: Path, add: str, loop: str, last: str) -> Path:
    tagged = {"tags": ["exercise"]}
    nb = new_notebook(cells=[
        new_markdown_cell("# Homework"),
        new_code_cell("x = 2"),
        new_markdown_cell("**Exercise 1 · Add.** Write `add(a, b)`."),
        new_code_cell(f"def add(a, b):\n    {add}\n\nassert add(x, 2) == 4, 'add(2, 2) must be 4'",
                      metadata=tagged),
        new_markdown_cell("**Exercise 2 · Loop.** Sum 0..3."),
        new_code_cell(loop, metadata=tagged),
        new_markdown_cell("**Exercise 3 · Still graded after a hang.**"),
        new_code_cell(last, metadata=tagged),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return path


@pytest.mark.timeout(180)
def test_grade_two_submissions(tmp_path: Path, capsys) -> None:
    good = _submission(tmp_path / "alice.ipynb", "return a + b", "total = sum(range(4))\nassert total == 6",
                       "assert add(1, 1) == 2")
    bad = _submission(tmp_path / "bob.ipynb", "return a - b", "import time\ntime.sleep(120)",
                      "assert x == 2")
    out = tmp_path / "scores.csv"
    assert main(["grade", str(good), str(bad), "--csv", str(out), "--cell-timeout", "8"]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    table = {(r["student"], r["exercise"]): (int(r["score"]), r["message"]) for r in rows}
    assert len(rows) == 6
    assert all(table[("alice", e)] == (1, "ok") for e in ("Exercise 1 · Add", "Exercise 2 · Loop",
                                                         "Exercise 3 · Still graded after a hang"))
    assert table[("bob", "Exercise 1 · Add")] == (0, "AssertionError: add(2, 2) must be 4")
    score, message = table[("bob", "Exercise 2 · Loop")]
    assert score == 0 and "ran past its time limit" in message
    assert table[("bob", "Exercise 3 · Still graded after a hang")] == (1, "ok")


def test_grade_refuses_what_is_not_a_notebook(tmp_path: Path, capsys) -> None:
    assert main(["grade", str(tmp_path / "nothing.txt"), "--csv", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "SUBMISSIONS must be .ipynb files" in err and len(err.strip().splitlines()) == 1
