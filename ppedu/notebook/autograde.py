"""Grade a class: execute each student's notebook headless and score every exercise.

An exercise is a group of code cells: those tagged ``exercise`` (``ppedu student-copy`` tags every
cell whose solution it stripped) or, in a solved notebook, those holding a solution block. Its name
is the ``**Exercise N · ...**`` line of the Markdown cell before it. It scores 1 when all its cells
ran without an error, else 0 with the error's first line as the message, the way nbgrader or
otter-grader would. Cells run with errors allowed and a per-cell timeout that *interrupts* the cell
and goes on (a hang or a deadlock costs that exercise only); a dead kernel ends that notebook only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ppedu.notebook.student_copy import BEGIN, EXERCISE_TAG

_TITLE = re.compile(r"\*\*(Exercise\s+\d+[^*]*)\*\*")


@dataclass
class ExerciseScore:
    student: str
    notebook: str
    exercise: str
    score: int
    message: str


def exercises(nb) -> dict[str, list[int]]:
    """Exercise name -> indices of its code cells, in notebook order."""
    found: dict[str, list[int]] = {}
    title = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            match = _TITLE.search(cell.source)
            title = " ".join(match.group(1).split()).rstrip(".") if match else title
        elif EXERCISE_TAG in cell.metadata.get("tags", []) or BEGIN in cell.source:
            found.setdefault(title or f"cell {i}", []).append(i)
    return found


def _error_of(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            value = (str(out.get("evalue", "")).splitlines() or [""])[0]
            if out.get("ename") == "KeyboardInterrupt":
                return "interrupted: the cell ran past its time limit (a hang or a deadlock?)"
            return f"{out.get('ename')}: {value}"[:300]
    return None


def execute(path: str | Path, cell_timeout_s: float = 120, kernel_name: str | None = None):
    """Run every cell of ``path`` (errors allowed, timeouts interrupt); return (notebook, fatal
    message or None). ``fatal`` says why the run stopped early (the kernel died)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from ppedu.notebook.headless import sliced_shell_polls

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    kwargs = {"kernel_name": kernel_name} if kernel_name else {}
    client = NotebookClient(nb, timeout=cell_timeout_s, allow_errors=True, interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(path.parent)}}, **kwargs)
    try:
        with sliced_shell_polls():
            client.execute()
    except DeadKernelError as exc:
        return nb, f"the kernel died ({str(exc).splitlines()[0] if str(exc) else 'no reason given'})"
    except Exception as exc:  # noqa: BLE001 - one broken submission must not stop the class
        return nb, f"the notebook could not run: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return nb, None


def grade_notebook(path: str | Path, student: str | None = None, cell_timeout_s: float = 120,
                   kernel_name: str | None = None) -> list[ExerciseScore]:
    """One row per exercise of the notebook at ``path``."""
    path = Path(path)
    student = student or path.stem
    nb, fatal = execute(path, cell_timeout_s, kernel_name)
    rows = []
    for name, cells in exercises(nb).items():
        ran = all(nb.cells[i].get("execution_count") is not None for i in cells)
        error = next((e for e in (_error_of(nb.cells[i]) for i in cells) if e), None)
        if error is None and not ran:
            error = f"not run: {fatal or 'the notebook stopped before this exercise'}"
        rows.append(ExerciseScore(student, path.name, name, int(error is None), error or "ok"))
    return rows
