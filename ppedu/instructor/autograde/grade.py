"""Grade a class: the instructor's notebook, run with each student's answers, in a sandbox.

An exercise's code cells are *answer cells* (tag ``answer``, or ``exercise`` in a student copy) and
*check cells* (``check``; ``hidden-check`` cells exist only in the instructor's notebook), each with
``metadata.exercise = N``. Grading a submission never trusts its check cells:

1. the *answer run* executes the submission's answer cells with the instructor's cells (``--source``)
   they need, checks left out; after each one, the names the instructor's answer cell defines are
   sent out by value (``ppedu.instructor.autograde.answers.export``);
2. the *check run* executes the instructor's notebook, hidden checks included, in a fresh kernel
   where each answer cell only loads those values; ``verify`` after every cell catches an answer
   that patched the checking code while it was called.

An exercise scores 1 when all its check cells ran without an error, else 0 with the reason
("not answered", the check's first line, "hidden check: ...", "interrupted: ..."). A submission
whose locked cells differ from the release is reported as such. The reason is decided by the
failure's kind (``feedback.Failure``: the exception's name, the answer run's records), never by its
words, and worded in the submission's language (``feedback.language_of``: its metadata
``ppedu_lang``, else ``PPEDU_LANG``), in which both kernels run too. Both runs happen in
``ppedu.instructor.autograde.sandbox`` (a throwaway folder; bubblewrap where it works), with a per-cell
timeout that interrupts the cell and goes on, and a per-notebook time and memory limit.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ppedu.errors import UsageError
from ppedu.i18n.messages import _
from ppedu.instructor.autograde.feedback import (MISSING, NOT_RUN, REASONS, UNANSWERED, Failure,
                                                 exercise_message, failure_of, language_of, locked_message)
from ppedu.instructor.autograde.notebooks import answer_notebook, check_notebook
from ppedu.instructor.autograde.sandbox import execute_node, run
from ppedu.instructor.student_copy import (ANSWER_TAG, BEGIN, CHECK_TAG, EXERCISE_TAG, HIDDEN_TAG,
                                         assigned_names, student_notebook)

_TITLE = re.compile(r"\*\*(Exercise\s+\d+[^*]*)\*\*")


@dataclass
class ExerciseScore:
    student: str
    notebook: str
    exercise: str
    score: int
    message: str
    locked_cells: str = "as released"


@dataclass
class Layout:
    """The exercises of the instructor's notebook."""
    titles: dict[int, str] = field(default_factory=dict)
    answers: list[tuple[int, int, list[str]]] = field(default_factory=list)   # (cell, exercise, names)
    checks: dict[int, list[int]] = field(default_factory=dict)                # exercise -> cells


def _tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def exercises(nb) -> dict[str, list[int]]:
    """Exercise name -> indices of its code cells (answers and checks), in notebook order."""
    found: dict[str, list[int]] = {}
    title = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            match = _TITLE.search(cell.source)
            title = " ".join(match.group(1).split()).rstrip(".") if match else title
        elif {EXERCISE_TAG, ANSWER_TAG, CHECK_TAG, HIDDEN_TAG} & set(_tags(cell)) or BEGIN in cell.source:
            number = cell.metadata.get("exercise")
            found.setdefault(title_of(nb, number) if number else (title or f"cell {i}"), []).append(i)
    return found


def title_of(nb, number: int) -> str:
    """"Exercise 2 · The naive pipeline" from the Markdown that names exercise ``number``."""
    pattern = re.compile(rf"Exercise\s+{number}\b([^*\n]*)")
    for cell in nb.cells:
        match = pattern.search(cell.source) if cell.cell_type == "markdown" else None
        if match:
            return " ".join(f"Exercise {number}{match.group(1)}".split()).rstrip(".:")
    return f"Exercise {number}"


def layout(nb) -> Layout:
    found = Layout()
    for i, cell in enumerate(nb.cells):
        number = cell.metadata.get("exercise")
        if cell.cell_type != "code" or number is None:
            continue
        found.titles.setdefault(number, title_of(nb, number))
        if ANSWER_TAG in _tags(cell):
            found.answers.append((i, number, assigned_names(cell.source)))
        elif {CHECK_TAG, HIDDEN_TAG} & set(_tags(cell)):
            found.checks.setdefault(number, []).append(i)
    return found


def _is_answer(cell) -> bool:
    return cell.cell_type == "code" and bool({ANSWER_TAG, EXERCISE_TAG} & set(_tags(cell)))


def submitted_answers(nb) -> dict[int, list[str]]:
    """Exercise -> sources of the submission's answer cells, in order (the student copy numbers
    them; a cell without a number is filed under -1)."""
    found: dict[int, list[str]] = {}
    for cell in nb.cells:
        if _is_answer(cell):
            found.setdefault(cell.metadata.get("exercise", -1), []).append(cell.source)
    return found


def locked_differences(instructor, submission) -> int:
    """How many locked (non-answer) code cells of the submission differ from the release's."""
    release = [c.source.strip() for c in student_notebook(instructor)[0].cells
               if c.cell_type == "code" and not _is_answer(c)]
    mine = [c.source.strip() for c in submission.cells if c.cell_type == "code" and not _is_answer(c)]
    import difflib
    same = sum(b.size for b in difflib.SequenceMatcher(None, release, mine, autojunk=False).get_matching_blocks())
    return max(len(release), len(mine)) - same


def execute(path: str | Path, cell_timeout_s: float = 120, kernel_name: str | None = None):
    """Run the notebook at ``path`` in this process's environment (no sandbox): (notebook, fatal)."""
    import nbformat
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    if kernel_name:
        nb.metadata.setdefault("kernelspec", {})["name"] = kernel_name
    return execute_node(nb, path.parent, cell_timeout_s)


@dataclass
class Limits:
    """How a submission runs: sandbox mode, per-cell and per-notebook seconds, memory per process."""
    mode: str = "plain"
    cell_timeout_s: float = 120.0
    notebook_timeout_s: float = 1800.0
    memory_mb: int = 8192
    hide: list = field(default_factory=list)


def _sandboxed(nb, workdir: Path, limits: Limits, grading: bool, lang: str):
    import io

    import nbformat

    out, why = run(nbformat.writes(nb), workdir, mode=limits.mode, hide=limits.hide,
                   cell_timeout_s=limits.cell_timeout_s, notebook_timeout_s=limits.notebook_timeout_s,
                   memory_mb=limits.memory_mb, grading=grading, lang=lang)
    if out is None:
        return None, why
    ran = nbformat.read(io.StringIO(out), as_version=4)
    return ran, ran.metadata.get("ppedu_fatal")


def failed_answers(ran) -> dict[int, Failure]:
    """Instructor answer cell -> the error the student's answer cell raised in run 1."""
    found = {}
    for cell in (ran.cells if ran is not None else []):
        if "ppedu_answer" in cell.metadata and (failure := failure_of(cell)):
            found[cell.metadata["ppedu_answer"]] = failure
    return found


def failed_checks(ran, fatal: str | None) -> dict[int, Failure]:
    """Instructor check cell -> why it failed in run 2 (its own error, or its verify cell's)."""
    failures: dict[int, Failure] = {}
    for cell in ran.cells:
        origin = cell.metadata.get("ppedu_from", cell.metadata.get("ppedu_verify"))
        if origin is None or cell.cell_type != "code" or origin in failures:
            continue
        error = failure_of(cell)
        if error is None and cell.get("execution_count") is None:
            error = Failure(NOT_RUN, fatal or "")
        if error:
            failures[origin] = error
    return failures


def missing_answers(folder: Path) -> dict[int, Failure]:
    """Instructor answer cell -> why (one of) its names reached the check run as a Blank, from the
    records ``answers.load`` wrote (a record it cannot read is ignored: the student's code ran there)."""
    found: dict[int, Failure] = {}
    for path in sorted(folder.glob("cell*.missing.json")):
        try:
            cell = int(path.name[len("cell"):-len(".missing.json")])
            name, (reason, error) = next(iter(json.loads(path.read_text(encoding="utf-8")).items()))
        except (ValueError, TypeError, StopIteration, AttributeError):
            continue
        if reason in REASONS:
            found[cell] = Failure(MISSING, str(error), reason=reason, name=str(name))
    return found


def scores(instructor, plan: Layout, failures: dict[int, Failure], answer_errors: dict[int, Failure],
           missing: dict[int, Failure], lang: str) -> list[tuple[str, int, str]]:
    """(exercise, score, message in ``lang``) per exercise: its first failing check decides; a
    check that met a stub says why the answer is missing when the answer run recorded it."""
    rows = []
    for number, title in plan.titles.items():
        why = next(((i, failures[i]) for i in plan.checks.get(number, []) if i in failures), None)
        if why is None:
            rows.append((title, 1, exercise_message(None, False, None, lang)))
            continue
        i, failure = why
        mine = [j for j, n, _names in plan.answers if n == number]
        if failure.kind == UNANSWERED:
            failure = next((missing[j] for j in mine if j in missing), failure)
        raised = next((answer_errors[j] for j in mine if j in answer_errors), None)
        hidden = HIDDEN_TAG in _tags(instructor.cells[i])
        rows.append((title, 0, exercise_message(failure, hidden, raised, lang)))
    return rows


def grade_notebook(path: str | Path, student: str | None = None, source: str | Path = "notebooks",
                   limits: Limits | None = None) -> list[ExerciseScore]:
    """One row per exercise of the submission at ``path``, graded with the instructor's notebook of
    the same name in ``source``; messages in the submission's language (``language_of``)."""
    import nbformat

    path, limits = Path(path), limits or Limits()
    student = student or path.stem
    original, only = Path(source) / path.name, sorted(Path(source).glob("*.ipynb"))
    original = original if original.is_file() else only[0] if len(only) == 1 else None
    if original is None:
        raise UsageError(_("--source must hold the instructor's {notebook} (got {source!r}, which does "
                           "not)").format(notebook=path.name, source=str(source)))
    instructor, submission = (nbformat.read(p, as_version=4) for p in (original, path))
    plan, lang = layout(instructor), language_of(submission)
    with tempfile.TemporaryDirectory(prefix="ppedu-grade-") as tmp:
        run1, run2 = Path(tmp, "answers"), Path(tmp, "checks")
        (run1 / "out").mkdir(parents=True)
        (run2 / "out").mkdir(parents=True)
        first, _fatal = _sandboxed(answer_notebook(instructor, plan, submitted_answers(submission),
                                                   str(run1 / "out")), run1, limits, False, lang)
        for exported in (run1 / "out").glob("*.json"):
            (run2 / "out" / exported.name).write_bytes(exported.read_bytes())
        second, fatal = _sandboxed(check_notebook(instructor, plan, str(run2 / "out")), run2, limits,
                                   True, lang)
        missing = missing_answers(run2 / "out")
    failures = ({i: Failure(NOT_RUN, fatal or "") for cells in plan.checks.values() for i in cells}
                if second is None else failed_checks(second, fatal))
    locked = locked_message(locked_differences(instructor, submission), lang)
    return [ExerciseScore(student, path.name, title, score, message, locked)
            for title, score, message in scores(instructor, plan, failures, failed_answers(first),
                                                missing, lang)]
