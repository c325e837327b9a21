"""Any input answers quickly: a verdict, or a one-line UsageError; never a traceback, never a
run that scales with a number the student typed.

Property-based (hypothesis): tables built from a grammar of real and broken cells (huge
micro-batch numbers, unknown GPUs, repeated steps) and plain random text for the Markdown
parser and the validator; lists, strings and odd objects for ``check_rank_order``; random
argument vectors for the CLI's sub-commands. Each example must finish within ``BOUND_S``:
a bound on work, not a speed test (the slow path it guards against took hours).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import FUZZ, bounded
from ppedu import cli
from ppedu.errors import UsageError
from ppedu.notebook.checks.schedules import check_rank_order
from ppedu.schedules.actions import MAX_M, MAX_P, MAX_V
from ppedu.schedules import build_schedule
from ppedu.schedules.tables import parse_markdown_table
from ppedu.schedules.validator import Verdict, validate

_NUMBERS = st.one_of(st.integers(0, 9), st.integers(0, 2 * MAX_M),
                     st.sampled_from([10 ** 8, 10 ** 40, MAX_M, MAX_M + 1]))
_CELLS = st.one_of(
    st.sampled_from(["-", "", "idle", "**F_1**", "`B2`", "气泡", "F", "X1", "F_-1"]),
    st.builds(lambda k, n: f"{k}_{n}", st.sampled_from("FBWfbwQ"), _NUMBERS),
    st.builds(lambda k, n, c: f"{k}{n}c{c}", st.sampled_from("FBW"), _NUMBERS,
              st.sampled_from([0, 1, MAX_V - 1, MAX_V, 10 ** 9])),
    st.text(max_size=8),
)


@st.composite
def tables(draw) -> str:
    """A Markdown table: a header (GPU columns, maybe a time column) and rows of cells."""
    first = draw(st.sampled_from([0, 1, MAX_P, 10 ** 12]))
    gpus = draw(st.integers(1, 6))
    timed = draw(st.booleans())
    header = (["t"] if timed else []) + [f"GPU{first + g}" for g in range(gpus)]
    rows = [f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
    for t in range(draw(st.integers(0, 8))):
        time_cell = [str(draw(st.sampled_from([t, t, 0, 10 ** 7])))] if timed else []
        rows.append("| " + " | ".join(time_cell + draw(st.lists(_CELLS, min_size=gpus,
                                                                 max_size=gpus))) + " |")
    return "\n".join(rows)


@FUZZ
@given(st.one_of(tables(), st.text(max_size=300)))
def test_any_table_gets_a_verdict_or_a_one_line_error(text: str):
    def parse_and_validate():
        verdict = validate(parse_markdown_table(text))
        assert isinstance(verdict, Verdict) and verdict.message.startswith(("VALID", "INVALID"))
        assert len(verdict.problems) <= 51  # the first 50, then "... and N more problems."
        return verdict
    bounded(parse_and_validate)


def test_a_huge_micro_batch_number_is_a_range_error_at_once():
    table = "| t | GPU0 | GPU1 |\n|---|---|---|\n| 0 | F_100000000 | - |\n"
    error = bounded(lambda: parse_markdown_table(table))
    assert isinstance(error, UsageError)
    assert "line 3, GPU0: the micro-batch number must be an integer in 0..1024" in str(error)


def test_the_largest_table_the_limits_allow_is_still_quick():
    """One cell at the corner of the limits (GPU63, chunk 15, micro-batch 1023) asks the
    validator about p * v * m * kinds = 2M tasks: it names the first 50 and counts the rest."""
    header = "| t | " + " | ".join(f"GPU{g}" for g in range(MAX_P)) + " |"
    row = "| 0 | " + " | ".join([f"F{MAX_M - 1}c{MAX_V - 1}"] + ["B5"] * (MAX_P - 1)) + " |"
    verdict = bounded(lambda: validate(parse_markdown_table(f"{header}\n{row}\n")))
    assert not verdict.ok and verdict.problems[-1].startswith("... and ")
    hidden = int(verdict.problems[-1].split()[2])
    # every B5 lacks its F5 and uses a B5 of the same step (2 x 63), F1023c15 lacks its input
    # (1); of the p * v * m * 2 tasks (F and B), all but the 64 present are missing
    assert hidden + 50 == 2 * 63 + 1 + MAX_P * MAX_V * MAX_M * 2 - MAX_P


_ACTIONS = st.one_of(
    st.text(max_size=20),
    st.lists(st.one_of(st.sampled_from(["F0", "B0", "F1", "B1", "F_2", "W0", "F"]),
                       st.builds(lambda k, n: f"{k}{n}", st.sampled_from("FB"), _NUMBERS),
                       st.tuples(st.sampled_from("FB"), st.integers(-2, 40)),
                       st.integers(), st.none(), st.floats(allow_nan=True)), max_size=40),
    st.integers(), st.none(), st.dictionaries(st.text(max_size=2), st.integers(), max_size=3),
)


@FUZZ
@given(p=st.one_of(st.integers(-1, 10), st.sampled_from([2.0, 2.5, "4", None, True])),
       m=st.one_of(st.integers(-1, 12), st.sampled_from([MAX_M + 1, 3.0, "x"])),
       rank=st.one_of(st.integers(-2, 10), st.sampled_from([0.5, "0"])),
       actions=_ACTIONS, schedule=st.sampled_from(["1f1b", "gpipe", "zb1", "nope"]))
def test_check_rank_order_answers_any_input(p, m, rank, actions, schedule):
    def grade():
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                check_rank_order(p, m, rank, actions, schedule)
            except AssertionError as verdict:  # the grader's "wrong, and here is a hint"
                assert str(verdict).strip()
                return verdict
        assert out.getvalue().startswith("\u2713")
    bounded(grade)


def test_check_rank_order_says_a_string_is_not_a_list():
    with pytest.raises(AssertionError, match="string 'F0 F1'.*list"):
        check_rank_order(2, 2, 0, "F0 F1")
    reference = [str(a) for a in build_schedule("1f1b", 2, 2).ranks[0]]
    with contextlib.redirect_stdout(io.StringIO()):
        check_rank_order(2, 2, 0, reference)  # the right list still passes


class _NoCluster(Exception):
    """Raised instead of starting ranks: the arguments were accepted."""


def _argv_tokens():
    flag = st.sampled_from(["-p", "-m", "--v", "--schedule", "--tf", "--tb", "--tw", "--latency",
                            "--steps", "--workload", "--partition", "--latency-ms",
                            "--bandwidth-gbps", "--json", "--bogus", "-h", "--policy", "--inflight",
                            "--requests", "--max-batch", "-n", "--layers", "--hidden", "--heads",
                            "--tp", "--simulate", "--output-len", "--seq", "--batch",
                            "--start-cluster", "notebooks/02_bubbles.ipynb", "out.ipynb"])
    value = st.one_of(st.sampled_from(["1f1b", "gpipe", "interleaved", "zb1", "timed", "model",
                                       "balanced", "nan", "inf", "-inf", "1e308", "0", "-1",
                                       "2", "4", "8", "100000000", "", "é", "example:nope"]),
                      st.integers(-5, 2000).map(str), st.text(max_size=6))
    return st.lists(st.one_of(flag, value), max_size=8)


def _run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    # in a scratch folder: an abbreviated --trace may name a file to write
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch), \
            mock.patch("ppedu.runtime.cluster.connect", side_effect=_NoCluster), \
            mock.patch("ppedu.runtime.cluster.get_cluster", side_effect=_NoCluster), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:  # argparse: usage errors exit 2, --help exits 0
            code = exit_.code
        except _NoCluster:
            code = 0
    return code, err.getvalue()


@FUZZ
@given(command=st.sampled_from(["simulate", "validate", "train", "compare-tp-pp", "serve-bench", "serve-sweep",
                                 "doctor", "student-copy", "run-notebook"]),
       tokens=_argv_tokens())
def test_cli_arguments_answer_with_an_exit_code_and_one_line(command, tokens):
    code, err = bounded(lambda: _run_cli([command] + tokens))
    assert code in (0, 1, 2), (tokens, code, err)
    assert "Traceback" not in err
    if code == 2:
        assert err.count("\n") == 1, f"not one line: {err!r}"
