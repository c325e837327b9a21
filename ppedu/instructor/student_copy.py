"""Make the student copy of the course notebooks: solutions stripped, outputs cleared, checks locked.

In the repository, an exercise is split into *answer cells* (tag ``answer``: what the student
writes) and *check cells* (tag ``check``: the checks, locked in the student copy with JupyterLab's
``editable: false`` / ``deletable: false``; ``hidden-check`` cells are the instructor's extra cases
and are dropped). Both carry ``metadata.exercise = N``. An answer cell keeps its solution between
marker lines::

    def bubble(p, m):
        # BEGIN SOLUTION
        return (p - 1) / (m + p - 1)
        # END SOLUTION

so CI runs the solved notebooks. The student copy replaces a block inside a function by::

        # YOUR CODE HERE: replace this line by your answer
        raise NotAnswered("Exercise 1")

and a top-level block (values, not a function) by one ``name = Blank("Exercise 1")`` per name it
assigns: the cell runs, and only *using* the blank raises NotAnswered, which the check cells turn
into the line "Exercise 1: not answered yet", so Run All goes on. Markdown cells may mark an answer
with ``<!-- BEGIN SOLUTION -->`` / ``<!-- END SOLUTION -->``; it becomes *Your answer here.*
"""

from __future__ import annotations

import ast
import copy
import re
import textwrap
from pathlib import Path
from typing import Callable, Union

from ppedu.errors import UsageError
from ppedu.i18n.catalog import N_, in_language

BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"
MARKDOWN_STUB = N_("*Your answer here.*")   # in the notebook's language (metadata ppedu_lang), see _markdown_stub
EXERCISE_TAG = "exercise"          # every answer cell of the student copy (read by `ppedu grade`)
ANSWER_TAG, CHECK_TAG, HIDDEN_TAG = "answer", "check", "hidden-check"
LOCKED = {"editable": False, "deletable": False}
_TITLE = re.compile(r"Exercise\s+(\d+)")


def code_stub(label: str = "this exercise") -> Callable[[str, list[str]], list[str]]:
    """The stub of a code block: ``raise NotAnswered(label)`` inside a function, ``name =
    Blank(label)`` per assigned name at the top level (so the cell itself runs)."""
    def stub(indent: str, block: list[str]) -> list[str]:
        names = [] if indent else assigned_names("\n".join(block))
        if names:
            return ["# YOUR CODE HERE: replace the Blank(...) lines by your answer",
                    *(f"{name} = Blank({label!r})" for name in names)]
        return [indent + "# YOUR CODE HERE: replace this line by your answer",
                indent + f"raise NotAnswered({label!r})"]
    return stub


def assigned_names(text: str) -> list[str]:
    """Top-level names a block of code assigns or defines, in order (none if it does not parse)."""
    try:
        body = ast.parse(textwrap.dedent(text)).body
    except SyntaxError:
        return []
    names: list[str] = []
    for stmt in body:
        targets = (stmt.targets if isinstance(stmt, ast.Assign) else
                   [stmt.target] if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) else [])
        found = [stmt.name] if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)) else []
        for target in targets:
            found += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
        names += [n for n in found if n not in names]
    return names


CODE_STUB = code_stub()
Stub = Union[tuple, Callable[[str, list], list]]


def _marker(line: str) -> str | None:
    """``BEGIN``/``END`` if ``line`` is a marker line (``# ...`` or ``<!-- ... -->``), else None."""
    text = line.strip()
    if text.startswith("<!--") and text.endswith("-->"):
        text = text[4:-3].strip()
    elif text.startswith("#"):
        text = text.lstrip("#").strip()
    else:
        return None
    return {BEGIN: BEGIN, END: END}.get(text.upper())


def strip_solutions(source: str, stub: Stub = CODE_STUB, where: str = "cell") -> tuple[str, int]:
    """Replace every marked solution block in ``source`` by ``stub`` (lines, or a function of the
    block's indentation and lines, cf. ``code_stub``); return (text, blocks).

    Unbalanced markers raise a UsageError naming ``where`` and the line number.
    """
    out: list[str] = []
    inside_since = 0
    blocks = 0
    indent, block = "", []
    for number, line in enumerate(source.splitlines(), start=1):
        kind = _marker(line)
        if kind == BEGIN:
            if inside_since:
                raise UsageError(f"{where}, line {number}: '{BEGIN}' inside the solution opened "
                                 f"on line {inside_since}")
            inside_since, block = number, []
            indent = line[: len(line) - len(line.lstrip())]
            blocks += 1
        elif kind == END:
            if not inside_since:
                raise UsageError(f"{where}, line {number}: '{END}' without a '{BEGIN}' before it")
            out.extend(stub(indent, block) if callable(stub) else [indent + s for s in stub])
            inside_since = 0
        elif inside_since:
            block.append(line)
        else:
            out.append(line)
    if inside_since:
        raise UsageError(f"{where}, line {inside_since}: '{BEGIN}' is never closed by '{END}'")
    return "\n".join(out), blocks


def student_notebook(nb, name: str = "notebook"):
    """A copy of notebook ``nb`` (nbformat v4) with solutions stripped, outputs cleared, check
    cells locked and hidden checks dropped. Returns (new notebook, solution blocks removed)."""
    nb = copy.deepcopy(nb)
    total = 0
    label = "this exercise"
    nb.cells = [c for c in nb.cells if HIDDEN_TAG not in c.metadata.get("tags", [])]
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        if cell.cell_type == "code":
            number = cell.metadata.get("exercise")
            stub = code_stub(f"Exercise {number}" if number is not None else label)
            cell.source, n = strip_solutions(cell.source, stub, where)
            tags = cell.metadata.get("tags", [])
            if n and EXERCISE_TAG not in tags:  # `ppedu grade` finds the answers by this tag
                cell.metadata["tags"] = [*tags, EXERCISE_TAG]
            if CHECK_TAG in tags:
                cell.metadata.update(LOCKED)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        elif cell.cell_type == "markdown":
            match = _TITLE.search(cell.source)
            label = f"Exercise {match.group(1)}" if match else label
            cell.source, n = strip_solutions(cell.source, _markdown_stub(nb), where)
        else:
            n = 0
        total += n
    nb.metadata.pop("papermill", None)
    return nb, total


def _markdown_stub(nb) -> tuple[str]:
    """The Markdown answer stub in the notebook's language (a Chinese notebook says so in its metadata)."""
    return (in_language(MARKDOWN_STUB, nb.metadata.get("ppedu_lang", "en")),)


def make_student_copy(src: str | Path = "notebooks", out: str | Path = "student",
                      keep_existing: bool = False) -> list[tuple[Path, int]]:
    """Write the student copy of every ``src/*.ipynb`` into ``out``.

    Returns (written path, solution blocks removed) per notebook written, in name order. With
    ``keep_existing`` a notebook already in ``out`` is left alone (a student's work is never
    overwritten; only chapters added since are written). ``out`` must not be ``src``: the
    solutions would be lost.
    """
    import nbformat

    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise UsageError(f"--src must be a folder of notebooks (got {str(src)!r}, which is not a folder)")
    if out.resolve() == src.resolve():
        raise UsageError(f"--out must differ from --src (both are {str(src)!r}); "
                         "writing there would delete the solutions")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("*.ipynb")):
        target = out / path.name
        if keep_existing and target.exists():
            continue
        nb = nbformat.read(path, as_version=4)
        student, blocks = student_notebook(nb, path.name)
        nbformat.write(student, target)
        written.append((target, blocks))
    return written
