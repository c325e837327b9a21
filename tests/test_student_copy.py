"""`ppedu student-copy`: solutions stripped, outputs cleared, bad markers and paths reported."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from ppedu.cli import main
from ppedu.errors import UsageError
from ppedu.notebook.student_copy import make_student_copy, strip_solutions, student_notebook

SOLVED = '''def bubble(p, m):
    """Idle share of a GPipe step."""
    # BEGIN SOLUTION
    idle = p - 1
    return idle / (m + p - 1)
    # END SOLUTION

check(bubble)'''


def _notebook() -> nbformat.NotebookNode:
    graded = new_code_cell(SOLVED, execution_count=3,
                           outputs=[new_output("stream", name="stdout", text="\u2713 ok\n")])
    plain = new_code_cell("x = 1\nprint(x)", execution_count=4,
                          outputs=[new_output("stream", name="stdout", text="1\n")])
    answer = new_markdown_cell("Why?\n<!-- BEGIN SOLUTION -->\nBecause m+p-1 slots.\n"
                               "<!-- END SOLUTION -->")
    return new_notebook(cells=[new_markdown_cell("# Chapter"), graded, plain, answer])


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(_notebook(), folder / "02_bubbles.ipynb")
    return folder


def test_strip_keeps_indentation_and_surrounding_code() -> None:
    text, blocks = strip_solutions(SOLVED)
    assert blocks == 1
    assert "idle / (m + p - 1)" not in text and "SOLUTION" not in text
    assert "    # YOUR CODE HERE\n    raise NotImplementedError" in text
    assert text.startswith("def bubble(p, m):") and text.endswith("check(bubble)")
    namespace: dict = {"check": lambda fn: fn(4, 8)}
    with pytest.raises(NotImplementedError):
        exec(text, namespace)  # the stub is valid Python and refuses to run


def test_student_copy_strips_and_clears(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "student"
    written = make_student_copy(src, out)
    assert [(p.name, n) for p, n in written] == [("02_bubbles.ipynb", 2)]
    nb = nbformat.read(out / "02_bubbles.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "raise NotImplementedError" in code[0].source and "idle /" not in code[0].source
    assert code[1].source == "x = 1\nprint(x)"  # cells without markers are untouched
    assert "*Your answer here.*" in nb.cells[3].source and "Because" not in nb.cells[3].source
    # the solved notebook is left as it was
    original = nbformat.read(src / "02_bubbles.ipynb", as_version=4)
    assert "idle / (m + p - 1)" in original.cells[1].source and original.cells[1].outputs


@pytest.mark.parametrize("source, line", [
    ("a = 1\n# BEGIN SOLUTION\nb = 2", 2),
    ("# END SOLUTION\n", 1),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", 2),
])
def test_unbalanced_markers_name_the_cell_and_line(source: str, line: int) -> None:
    nb = new_notebook(cells=[new_code_cell("ok = 1"), new_code_cell(source)])
    with pytest.raises(UsageError, match=f"x.ipynb, cell 1, line {line}"):
        student_notebook(nb, "x.ipynb")


def test_out_must_differ_from_src(src: Path) -> None:
    with pytest.raises(UsageError, match="--out must differ"):
        make_student_copy(src, src)
    assert "idle /" in nbformat.read(src / "02_bubbles.ipynb", as_version=4).cells[1].source


def test_cli_json_and_bad_src(src: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "copy"
    assert main(["student-copy", "--src", str(src), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["notebooks"][0]["solutions_stripped"] == 2
    assert (out / "02_bubbles.ipynb").is_file()
    assert main(["student-copy", "--src", str(tmp_path / "missing"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--src" in err and len(err.strip().splitlines()) == 1


def test_repository_notebooks_have_balanced_markers() -> None:
    notebooks = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
    if not notebooks:
        pytest.skip("no notebooks in notebooks/ yet")
    for path in notebooks:
        student, _ = student_notebook(nbformat.read(path, as_version=4), path.name)
        text = "\n".join(c.source for c in student.cells)
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, path.name


@pytest.mark.slow
@pytest.mark.timeout(400)
# chapter 6 (the lab); the other chapters cost ~50 s each here, and 02's student copy still
# ends two later cells in a NameError (decode_idle, blocks_on_gpu0: answers used outside their cell)
@pytest.mark.parametrize("name", ["06_build_your_pipeline"])
def test_unanswered_exercises_fail_with_a_helpful_message(name: str, tmp_path: Path) -> None:
    """The student copy runs: every unanswered exercise fails with its own message (never a
    NameError, which would mean a cell depends on an answer the student has not written)."""
    from ppedu.notebook.autograde import _error_of, execute, exercises

    root = Path(__file__).resolve().parents[1] / "notebooks"
    nb, _ = student_notebook(nbformat.read(root / f"{name}.ipynb", as_version=4), name)
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    ran, fatal = execute(path, cell_timeout_s=240)
    assert fatal is None, fatal
    errors = {i: _error_of(cell) for i, cell in enumerate(ran.cells) if cell.cell_type == "code"}
    names = [f"cell {i}: {e}" for i, e in errors.items() if e and e.startswith("NameError")]
    assert not names, names
    groups = exercises(ran)
    assert groups, f"{name} has no exercise"
    for exercise, cells in groups.items():
        failures = [errors[i] for i in cells if errors[i]]
        assert failures, f"{exercise} passes without an answer"
        assert all(len(f.split(": ", 1)[-1]) > 20 for f in failures), f"{exercise}: {failures}"


def _answer_names(source: str) -> set[str]:
    """Names a cell's top-level solution blocks assign (the student copy leaves them undefined)."""
    names: set[str] = set()
    block: list[str] | None = None
    for line in source.splitlines():
        marker = line.strip().lstrip("#").strip().upper()
        if marker == "BEGIN SOLUTION":
            block = [] if not line[: len(line) - len(line.lstrip())] else None
        elif marker == "END SOLUTION":
            for stmt in ast.parse("\n".join(block or [])).body:  # top-level names only
                if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
                    names.add(stmt.name)
                if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
            block = None
        elif block is not None:
            block.append(line)
    return names


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")),
                         ids=lambda p: p.stem)
def test_no_cell_depends_on_an_unanswered_exercise(path: Path) -> None:
    """In the student copy an exercise's answer is undefined until the student writes it, so only
    the exercise's own cell may read it: a later cell that does would end in a NameError instead
    of the exercise's helpful message (a static check of every chapter; the lab's student copy is
    also run for real above)."""
    cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    answers: dict[str, int] = {}
    for i, source in enumerate(cells):
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        names = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)]
        loads = {n.id for n in names if isinstance(n.ctx, ast.Load)}
        stores = {n.id for n in names if isinstance(n.ctx, ast.Store)}  # a cell that sets it first
        late = sorted(name for name in (loads - stores) & set(answers) if answers[name] != i)
        assert not late, f"{path.name} code cell {i} reads {late}, answered in code cell(s) " \
                         f"{sorted({answers[n] for n in late})}: compute it from the library instead"
        answers.update({name: i for name in _answer_names(source)})
