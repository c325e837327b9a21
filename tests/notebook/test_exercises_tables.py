"""Notebook 02, exercise 3 (fix seed 002's table): the check keeps the exercise's numbering
(micro-batches 1-4) and never shows where a correct table lives."""

from __future__ import annotations

import re

import pytest

from ppedu.notebook.checks.seed_table import check_seed_fix
from ppedu.schedules.tables import example_text, load_example


def _table(name: str) -> str:
    return example_text(name)


def test_a_fixed_table_passes_and_says_how_long_it_takes(capsys) -> None:
    check_seed_fix(_table("1f1b_p4_m4"))
    assert capsys.readouterr().out.startswith("\u2713 VALID")


def test_a_table_numbered_from_0_is_rejected_with_the_reason() -> None:
    zero = re.sub(r"([FB])_(\d)", lambda mt: f"{mt[1]}_{int(mt[2]) - 1}", _table("1f1b_p4_m4"))
    assert load_example("1f1b_p4_m4").schedule.m == 4  # the same table, one number lower
    with pytest.raises(AssertionError, match="numbers the micro-batches from 0; .* micro-batches 1-4"):
        check_seed_fix(zero)
    shifted = re.sub(r"([FB])_(\d)", lambda mt: f"{mt[1]}_{int(mt[2]) + 1}", _table("1f1b_p4_m4"))
    with pytest.raises(AssertionError, match="no micro-batch 1 \\(it starts at 2\\)"):
        check_seed_fix(shifted)


def test_the_seed_and_broken_tables_get_the_validators_words() -> None:
    with pytest.raises(AssertionError, match="GPU1 runs B_1 at t=5"):
        check_seed_fix(_table("seed002_1f1b"))
    with pytest.raises(AssertionError, match="does not parse"):
        check_seed_fix("no table here")
    with pytest.raises(AssertionError, match="Keep 4 GPUs"):
        check_seed_fix("| t | GPU0 |\n|---|---|\n| 0 | F_1 |\n| 1 | B_1 |")


def test_the_printed_seed_does_not_say_where_a_correct_table_lives() -> None:
    text = _table("seed002_1f1b")
    assert "1f1b_p4_m4" not in text and "correct version" not in text
    assert text.lstrip().startswith("|")
