"""Make the student copy of the course notebooks: solutions stripped, outputs cleared.

In the repository, exercise cells keep their solution between marker lines::

    def bubble(p, m):
        # BEGIN SOLUTION
        return (p - 1) / (m + p - 1)
        # END SOLUTION

so CI runs the solved notebooks. The student copy replaces each marked block by::

        # YOUR CODE HERE
        raise NotImplementedError("exercise not answered yet: ...")

at the indentation of the BEGIN marker. Markdown cells may mark an answer with
``<!-- BEGIN SOLUTION -->`` / ``<!-- END SOLUTION -->``; it becomes *Your answer here.*
"""

from __future__ import annotations

import copy
from pathlib import Path

from ppedu.errors import UsageError

BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"
CODE_STUB = ("# YOUR CODE HERE",
             'raise NotImplementedError("exercise not answered yet: replace these two lines by your answer")')
MARKDOWN_STUB = ("*Your answer here.*",)
EXERCISE_TAG = "exercise"


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


def strip_solutions(source: str, stub: tuple[str, ...] = CODE_STUB, where: str = "cell") -> tuple[str, int]:
    """Replace every marked solution block in ``source`` by ``stub``; return (text, blocks).

    Unbalanced markers raise a UsageError naming ``where`` and the line number.
    """
    out: list[str] = []
    inside_since = 0
    blocks = 0
    for number, line in enumerate(source.splitlines(), start=1):
        kind = _marker(line)
        if kind == BEGIN:
            if inside_since:
                raise UsageError(f"{where}, line {number}: '{BEGIN}' inside the solution opened "
                                 f"on line {inside_since}")
            inside_since = number
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in stub)
            blocks += 1
        elif kind == END:
            if not inside_since:
                raise UsageError(f"{where}, line {number}: '{END}' without a '{BEGIN}' before it")
            inside_since = 0
        elif not inside_since:
            out.append(line)
    if inside_since:
        raise UsageError(f"{where}, line {inside_since}: '{BEGIN}' is never closed by '{END}'")
    return "\n".join(out), blocks


def student_notebook(nb, name: str = "notebook"):
    """A copy of notebook ``nb`` (nbformat v4) with solutions stripped and outputs cleared.

    Returns (new notebook, number of solution blocks removed).
    """
    nb = copy.deepcopy(nb)
    total = 0
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        if cell.cell_type == "code":
            cell.source, n = strip_solutions(cell.source, CODE_STUB, where)
            if n:  # `ppedu grade` finds the exercises of a submission by this tag
                tags = cell.metadata.setdefault("tags", [])
                if EXERCISE_TAG not in tags:
                    tags.append(EXERCISE_TAG)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        elif cell.cell_type == "markdown":
            cell.source, n = strip_solutions(cell.source, MARKDOWN_STUB, where)
        else:
            n = 0
        total += n
    nb.metadata.pop("papermill", None)
    return nb, total


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
