"""The notebooks' entry points answer any input quickly: the widget callbacks (with the job they
would start replaced by a marker, so accepted values cost nothing) and every exercise checker.

A callback returns its figures or ``([], "⚠ one line")``; a checker prints ✓, raises an
AssertionError with a message (the student's answer is wrong) or a one-line UsageError (it
cannot grade this). Nothing else escapes, and nothing takes longer than ``BOUND_S``.
"""

from __future__ import annotations

import contextlib
import io
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from conftest import FUZZ, bounded
from ppedu.errors import UsageError
from ppedu.notebook.checks import partition as exercises_partition, schedules as exercises, serving, tp
from ppedu.notebook.widgets import serving as widgets_serving, tp as widgets_tp, training as widgets
from ppedu.notebook.widgets.panel import ERROR_PREFIX

_ANY = st.one_of(st.none(), st.booleans(), st.integers(-3, 3000), st.sampled_from([10 ** 9, -10 ** 9]),
                 st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                 st.lists(st.integers(0, 5), max_size=3))


def _values(keys) -> st.SearchStrategy[dict]:
    """Widget values: known keys (and one unknown) with values of any type."""
    return st.dictionaries(st.sampled_from(sorted(keys) + ["bogus"]), _ANY, max_size=4)


class _Accepted(Exception):
    """Raised where the callback would start ranks: the values passed validation."""


def _answer(call) -> None:
    try:
        figures, text = bounded(call)
    except _Accepted:
        return
    assert figures == [] and text.startswith(ERROR_PREFIX) and "\n" not in text, text


@FUZZ
@given(values=_values(widgets.DEFAULTS), ms=st.one_of(st.text(max_size=8), st.lists(_ANY, max_size=3)),
       batch_ms=_ANY)
def test_training_callbacks_answer_any_values(values, ms, batch_ms):
    with mock.patch.object(widgets, "train", side_effect=_Accepted), \
            mock.patch.object(widgets, "sweep_m", side_effect=_Accepted):
        _answer(lambda: widgets.run_training(values))
        _answer(lambda: widgets.run_bubble_sweep(values, ms))
        _answer(lambda: widgets.run_latency_sweep(values, ms, batch_ms))


@FUZZ
@given(values=_values(widgets_tp.DEFAULTS), latencies=st.one_of(_ANY, st.lists(_ANY, max_size=3)))
def test_tp_callback_answers_any_values(values, latencies):
    with mock.patch.object(widgets_tp, "sweep_latency", side_effect=_Accepted):
        _answer(lambda: widgets_tp.run_comparison(values, latencies))


@FUZZ
@given(values=_values(widgets_serving.DEFAULTS))
def test_serving_callbacks_answer_any_values(values):
    with mock.patch.object(widgets_serving, "serve", side_effect=_Accepted), \
            mock.patch.object(widgets_serving, "_group", return_value=None):
        _answer(lambda: widgets_serving.run_serving(values))
        _answer(lambda: widgets_serving.run_policy_comparison(values))


def _grade(checker, *args) -> None:
    def call():
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                checker(*args)
            except AssertionError as wrong:
                assert str(wrong).strip()
                return
            except UsageError as bad:
                assert "\n" not in str(bad) and str(bad)
                return
        assert out.getvalue().startswith("\u2713")
    bounded(call)


_MEASURED = st.one_of(_ANY, st.dictionaries(st.sampled_from(["tp", "pp", "layers", "n"]),
                                            st.one_of(_ANY, st.fixed_dictionaries(
                                                {"bytes": _ANY, "collectives": _ANY})), max_size=4))
_POLICY_ROWS = st.lists(st.fixed_dictionaries({"policy": st.sampled_from(["static", "dynamic", "x"]),
                                               "e2e_p99_s": _ANY, "throughput_tok_s": _ANY}),
                        max_size=3)


@FUZZ
@given(a=_ANY, b=_ANY, c=_ANY, d=_ANY, measured=_MEASURED, rows=st.one_of(_ANY, _POLICY_ROWS),
       fn=st.sampled_from([lambda *x: 0.5, lambda *x: 1 / 0, lambda *x: "x", lambda *x: x[0]]))
def test_every_checker_answers_any_input(a, b, c, d, measured, rows, fn):
    _grade(exercises.check_bubble_formula, fn, a)
    _grade(exercises.check_choose_m, a, b, c, d)
    _grade(exercises.check_choose_m, 4, 4, 100.0, 10.0, "gpipe", range(1, 10 ** 9))
    _grade(tp.check_tp_vs_pp_bytes, a, measured, b)
    _grade(serving.check_policy_choice, a, rows, b)
    _grade(serving.check_decode_bubble, a, b, c)
    _grade(widgets_tp.check_allreduces_per_step, fn, measured)
    costs = [1.0e6, 3.0e6, 3.0e6, 3.0e6, 3.0e6, 9.0e6]
    _grade(exercises_partition.check_partition_choice, a, b, costs)
    _grade(exercises_partition.check_partition_choice, 1, 3, c)
    _grade(exercises_partition.check_partition_choice, 1, 3, [a, b, c, d])


_LAB_OVERRIDES = st.dictionaries(
    st.sampled_from(["tf_ms", "tb_ms", "deadlock_s", "seq_len", "n_embd", "n_head", "seed",
                     "micro_batch_size", "bogus"]), _ANY, max_size=3)


@FUZZ
@given(train_step=st.sampled_from([lambda stage: None, None, 3, "f", print]),
       schedule=st.sampled_from(["1f1b", "afab", "interleaved", "gpipe", "x", None]),
       p=_ANY, m=_ANY, workload=st.sampled_from(["model", "timed", "x", 0]), v=_ANY,
       overrides=_LAB_OVERRIDES)
def test_lab_grader_answers_any_arguments(train_step, schedule, p, m, workload, v, overrides):
    """``ppedu.lab.grade`` with the ranks replaced by a marker: every argument it cannot use is a
    one-line UsageError or a failed Grade, at once; the rest reaches the ranks."""
    from ppedu.lab import grade, grader

    def call():
        try:
            verdict = grade(train_step, schedule, p, m, workload, v, **overrides)
        except _Accepted:
            return None
        assert not verdict.ok and str(verdict).strip()
        return verdict
    with mock.patch.object(grader, "_connect", side_effect=_Accepted):
        bounded(call)
