"""`ppedu grade` writes a student's feedback in the submission's language (metadata ``ppedu_lang``,
else ``PPEDU_LANG``, else English), and decides every score and reason by the failure's kind (the
exception's name, the answer run's records), never by the words: the same grading under a
catalog that rewrites every message. No kernel here: the executed check notebook is built by hand."""

from __future__ import annotations

import threading
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from conftest import exercise_cell as _cell
from ppedu.i18n import catalog
from ppedu.i18n.catalog import in_language
from ppedu.instructor.autograde import answers, feedback
from ppedu.instructor.autograde.grade import (failed_answers, failed_checks, layout, missing_answers,
                                              scores)
from ppedu.instructor.autograde.notebooks import answer_notebook, check_notebook
from ppedu.notebook.grading import NotAnswered


def _instructor() -> nbformat.NotebookNode:
    return new_notebook(cells=[
        new_code_cell("x = 2"),
        new_markdown_cell("**Exercise 1 · Add.**"),
        _cell("def add(a, b):\n    return a + b", "answer", 1),
        _cell("assert add(x, 2) == 4", "check", 1),
        _cell("assert add(-3, 10) == 7, 'add(-3, 10) must be 7'", "hidden-check", 1),
        new_markdown_cell("**Exercise 2 · Loop.**"),
        _cell("total = sum(range(4))", "answer", 2),
        _cell("assert total == 6", "check", 2),
        new_markdown_cell("**Exercise 3 · Twice.**"),
        _cell("def twice(a):\n    return 2 * a", "answer", 3),
        _cell("assert twice(x) == 4", "check", 3),
        _cell("assert twice(5) == 10", "hidden-check", 3),
        new_markdown_cell("**Exercise 4 · Last.**"),
        _cell("last = 1", "answer", 4),
        _cell("assert last == 1", "check", 4),
        _cell("assert last + 0 == 1", "check", 4),
    ])


def _ran(nb, errors: dict[int, tuple[str, str] | None], key: str) -> nbformat.NotebookNode:
    """``nb`` as if executed: every cell ran, except those in ``errors`` (instructor cell ->
    (ename, evalue) raised there, or None: never ran)."""
    for n, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        origin = cell.metadata.get(key)
        if origin in errors and errors[origin] is None:
            continue
        cell.execution_count = n + 1
        if origin in errors and cell.metadata.get("ppedu_verify") is None:
            ename, evalue = errors[origin]
            cell.outputs = [new_output("error", ename=ename, evalue=evalue, traceback=[])]
    return nb


def _not_answered(number: int, lang: str) -> str:
    """What a kernel run in ``lang`` reports as NotAnswered's message."""
    return in_language("{exercise}: {reason}", lang).format(
        exercise=in_language("Exercise {number}", lang).format(number=number),
        reason=in_language("not answered yet", lang))


def _grade(lang: str, tmp_path: Path) -> list[tuple[str, int, str]]:
    """Exercise 1: its hidden check fails; 2: `total` was never defined (the answer cell hung);
    3: a stub, met first by a hidden check (its answer cell raised too); 4: the notebook stopped before its second check.
    The kernel's own words (NotAnswered's) are in ``lang``, as a kernel run in ``lang`` writes them."""
    instructor = _instructor()
    plan = layout(instructor)
    folder = tmp_path / lang
    folder.mkdir()
    answers.export("cell6", ["total"], {}, str(folder))      # the answer cell hung: no `total`
    checks = _ran(check_notebook(instructor, plan, str(folder)), {
        4: ("AssertionError", "add(-3, 10) must be 7"),
        7: ("NotAnswered", _not_answered(2, lang)),
        11: ("NotAnswered", _not_answered(3, lang)),
        15: None}, "ppedu_from")
    answered = _ran(answer_notebook(instructor, plan, {1: ["def add(a, b): return 4"], 2: ["while True: pass"],
                                                       3: ["twice = 1"], 4: ["last = 1"]}, str(folder)),
                    {6: ("KeyboardInterrupt", ""), 9: ("NameError", "name 'y' is not defined")},
                    "ppedu_answer")
    answers.load("cell6", "Exercise 2", ["total"], str(folder))   # the check run's loader records why
    return scores(instructor, plan, failed_checks(checks, None), failed_answers(answered),
                  missing_answers(folder), lang)


def test_english_feedback_by_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PPEDU_LANG", raising=False)
    assert _grade(feedback.language_of(new_notebook()), tmp_path) == [
        ("Exercise 1 · Add", 0, "hidden check: AssertionError: add(-3, 10) must be 7"),
        ("Exercise 2 · Loop", 0, "the answer cell defines no `total` (your answer cell raised interrupted: "
                                 "the cell ran past its time limit (a hang or a deadlock?))"),
        ("Exercise 3 · Twice", 0, "not answered"),
        ("Exercise 4 · Last", 0, "not run: the notebook stopped before this cell")]


def test_a_chinese_submission_gets_chinese_feedback(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PPEDU_LANG", raising=False)
    lang = feedback.language_of(new_notebook(metadata={"ppedu_lang": "zh"}))
    assert lang == "zh"
    assert _grade(lang, tmp_path) == [
        ("Exercise 1 · Add", 0, "隐藏检查：AssertionError: add(-3, 10) must be 7"),
        ("Exercise 2 · Loop", 0, "答题单元格没有定义 `total`（你的答题单元格抛出了 已中断：单元格运行超出了时间上限"
                                 "（卡住了，还是死锁？））"),
        ("Exercise 3 · Twice", 0, "未作答"),
        ("Exercise 4 · Last", 0, "未运行：notebook 在运行到这个单元格之前就停止了")]
    assert feedback.locked_message(0, lang) == "与发布时一致"
    assert feedback.locked_message(2, lang).startswith("有 2 个锁定的单元格被修改或删除")


class _Rewritten:
    """A catalog that translates every message into words no grading code could expect."""

    def gettext(self, message: str) -> str:
        return f"«{message}»"


def test_grading_never_reads_the_words(tmp_path: Path, monkeypatch) -> None:
    """Scores and the shape of every message (which prefix, which suffix, which reason) are the
    same under a catalog that rewrites every message, the kernel's NotAnswered words included:
    a plain "not answered" still gets no "hidden check:" prefix and no "(your answer cell raised
    ...)" suffix, though its words are no longer "not answered"."""
    monkeypatch.setattr(catalog, "_catalog", lambda lang: _Rewritten())
    rows = _grade("zh", tmp_path)
    assert [(title, score) for title, score, _ in rows] == [(t, s) for t, s, _ in _grade("en", tmp_path)]
    assert [message for _, _, message in rows] == [
        "«hidden check: {message}»".format(message="AssertionError: add(-3, 10) must be 7"),
        "«{message} (your answer cell raised {error})»".format(
            message="«the answer cell defines no `{name}`»".format(name="total"),
            error="«interrupted: the cell ran past its time limit (a hang or a deadlock?)»"),
        "«not answered»",
        "«not run: {why}»".format(why="«the notebook stopped before this cell»")]


@pytest.mark.parametrize("stated, env, expected", [
    ("zh", None, "zh"), ("zh-CN", None, "zh"), ("zh_Hans", "en", "zh"),   # the submission wins
    ("en", "zh", "en"), (None, "zh", "zh"), (None, None, "en"),           # else PPEDU_LANG, else English
    ("fr", "zh", "en"),                                                    # no catalog: English
])
def test_the_language_of_a_submission(stated, env, expected, monkeypatch) -> None:
    if env is None:
        monkeypatch.delenv("PPEDU_LANG", raising=False)
    else:
        monkeypatch.setenv("PPEDU_LANG", env)
    nb = new_notebook(metadata={"ppedu_lang": stated} if stated else {})
    assert feedback.language_of(nb) == expected


def test_the_answer_runs_records_name_why_by_kind(tmp_path: Path, monkeypatch) -> None:
    """export/load record why an answer is missing by key; the Blank speaks the kernel's language;
    the failure kinds match the exception names the kernels report."""
    monkeypatch.setenv("PPEDU_LANG", "zh")
    answers.export("cell3", ["add", "lock", "gone"], {"add": len, "lock": threading.Lock()}, str(tmp_path))
    loaded = answers.load("cell3", "Exercise 1", ["add", "lock", "gone", "late"], str(tmp_path))
    assert loaded["add"] is len
    with pytest.raises(NotAnswered, match="答题单元格没有定义 `gone`"):
        loaded["gone"] + 1
    found = missing_answers(tmp_path)[3]
    assert (found.kind, found.reason, found.name, found.text) == (feedback.MISSING, "unsendable", "lock", "TypeError")
    assert feedback.render(found, "zh") == "`lock` 无法传给评分器（TypeError）"
    assert answers.CheckingCodeChanged.__name__ == feedback.CHANGED_ERROR
    assert issubclass(answers.CheckingCodeChanged, AssertionError)
    assert NotAnswered.__name__ == feedback.NOT_ANSWERED_ERROR
    (tmp_path / "cell9.missing.json").write_text('{"x": ["forged", "?"]}')   # a record from student code
    assert 9 not in missing_answers(tmp_path)
