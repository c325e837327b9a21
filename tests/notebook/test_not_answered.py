"""An unanswered exercise says so in one line and lets Run All go on; `ppedu grade` still fails it."""

from __future__ import annotations

import pytest

import ppedu.unanswered as contract
from ppedu.lab import grade
from ppedu.notebook.checks.schedules import check_bubble_formula
from ppedu.notebook.checks.serving import check_decode_bubble
from ppedu.notebook.grading import Blank, NotAnswered, answered, exercise, require, unanswered


def stub(p, m):
    # YOUR CODE HERE: replace this line by your answer
    raise NotAnswered("Exercise 1")


def solved(p, m):
    return (p - 1) / (m + p - 1)


def test_a_checker_prints_one_line_and_returns(capsys) -> None:
    assert check_bubble_formula(stub, "gpipe") is None
    assert capsys.readouterr().out == "Exercise 1: not answered yet\n"
    check_decode_bubble(Blank("Exercise 2"), p=4, inflight=1)      # a blank value, not a function
    assert capsys.readouterr().out == "Exercise 2: not answered yet\n"


def test_a_check_cell_prints_the_line_once_and_goes_on(capsys) -> None:
    with exercise(1):
        check_bubble_formula(stub, "gpipe")
        print("never printed: the rest of the check needs the answer")
    assert capsys.readouterr().out == "Exercise 1: not answered yet\n"
    with exercise(2):
        Blank("Exercise 2") + 1
    assert capsys.readouterr().out == "Exercise 2: not answered yet\n"


def test_other_errors_still_fail_the_check() -> None:
    with pytest.raises(AssertionError):
        with exercise(1):
            check_bubble_formula(lambda p, m: 0.5, "gpipe")


def test_under_ppedu_grade_not_answered_fails(monkeypatch) -> None:
    monkeypatch.setattr(contract, "GRADING", True)
    with pytest.raises(NotAnswered, match="Exercise 1: not answered yet"):
        with exercise(1):
            check_bubble_formula(stub, "gpipe")
    with pytest.raises(NotAnswered):
        check_bubble_formula(stub, "gpipe")


def test_answered_looks_at_the_code_without_calling_it(capsys) -> None:
    assert answered(solved, 3, "tp") and not capsys.readouterr().out
    assert not answered(solved, stub)
    assert capsys.readouterr().out == "answer Exercise 1 first: this cell uses it\n"
    assert not answered(Blank("Exercise 4"))
    assert str(unanswered(Blank("Exercise 4", "the answer cell defines no `x`"))) == \
        "Exercise 4: the answer cell defines no `x`"
    with pytest.raises(NotAnswered, match="Exercise 1"):
        require(solved, stub)


def test_a_blank_refuses_every_use() -> None:
    blank = Blank("Exercise 3")
    for use in (lambda: blank + 1, lambda: 1 - blank, lambda: blank < 2, lambda: f"{blank:.2f}",
                lambda: blank(), lambda: blank["k"], lambda: blank.splitlines(), lambda: bool(blank),
                lambda: list(blank), lambda: {blank: 1}, lambda: float(blank)):
        with pytest.raises(NotAnswered, match="Exercise 3: not answered yet"):
            use()
    assert repr(blank) == "Blank('Exercise 3', 'not answered yet')"


def test_the_lab_grader_says_not_answered_without_starting_ranks(capsys) -> None:
    def train_step_afab(stage):
        # YOUR CODE HERE: replace this line by your answer
        raise NotAnswered("Exercise 1")

    with exercise(1):
        grade(train_step_afab, "afab", p=2, m=4)
    assert capsys.readouterr().out == "Exercise 1: not answered yet\n"
