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
from ppedu.notebook.grading import Blank, NotAnswered, answered
from ppedu.instructor.student_copy import code_stub, make_student_copy, strip_solutions, student_notebook

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
    assert "    # YOUR CODE HERE: replace this line by your answer\n    raise NotAnswered('this exercise')" in text
    assert text.startswith("def bubble(p, m):") and text.endswith("check(bubble)")
    namespace: dict = {"check": lambda fn: fn(4, 8), "NotAnswered": NotAnswered}
    with pytest.raises(NotAnswered, match="this exercise: not answered yet"):
        exec(text, namespace)  # the stub is valid Python and refuses to run


def test_top_level_answers_become_blanks_that_refuse_to_be_used() -> None:
    text, blocks = strip_solutions("x = 1\n# BEGIN SOLUTION\nm_10, extra = 12, 3\n# END SOLUTION\nprint(x)",
                                   code_stub("Exercise 4"))
    assert blocks == 1 and "m_10 = Blank('Exercise 4')" in text and "extra = Blank('Exercise 4')" in text
    namespace: dict = {"Blank": Blank}
    exec(text, namespace)                      # the cell itself runs
    with pytest.raises(NotAnswered, match="Exercise 4: not answered yet"):
        namespace["m_10"] + 1
    assert not answered(namespace["m_10"]) and answered(12)


def test_student_copy_strips_and_clears(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "student"
    written = make_student_copy(src, out)
    assert [(p.name, n) for p, n in written] == [("02_bubbles.ipynb", 2)]
    nb = nbformat.read(out / "02_bubbles.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "raise NotAnswered" in code[0].source and "idle /" not in code[0].source
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
    notebooks = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
    if not notebooks:
        pytest.skip("no notebooks in notebooks/ yet")
    for path in notebooks:
        student, _ = student_notebook(nbformat.read(path, as_version=4), path.name)
        text = "\n".join(c.source for c in student.cells)
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, path.name


def test_checks_are_locked_and_hidden_checks_dropped() -> None:
    nb = new_notebook(cells=[
        new_code_cell("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION", metadata={"tags": ["answer"], "exercise": 1}),
        new_code_cell("with exercise(1):\n    assert f() == 1", metadata={"tags": ["check"], "exercise": 1}),
        new_code_cell("assert f() == 1  # secret", metadata={"tags": ["hidden-check"], "exercise": 1})])
    student, _ = student_notebook(nb)
    assert len(student.cells) == 2 and "secret" not in "".join(c.source for c in student.cells)
    assert student.cells[1].metadata["editable"] is False and student.cells[1].metadata["deletable"] is False
    assert "raise NotAnswered('Exercise 1')" in student.cells[0].source
    assert "exercise" in student.cells[0].metadata["tags"]       # `ppedu grade` finds answers by it


@pytest.mark.ranks
@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("name, done", [("00_setup", ()), ("06_build_your_pipeline", ()),
                                        ("06_build_your_pipeline", (2, 4))],
                         ids=["00_setup", "06_build_your_pipeline", "06_build_your_pipeline-2-4-answered"])
def test_run_all_on_a_student_copy_reaches_the_last_cell(name: str, done: tuple, tmp_path: Path) -> None:
    """Run All on the student copy (errors stop the run, as in JupyterLab) reaches the last cell,
    untouched or with the exercises ``done`` answered (their solutions put back); a check cell of an
    unanswered exercise says "Exercise N: not answered yet" and nothing more, one of an answered
    exercise passes, and a cell guarded by answered exercises only runs (draws or prints).

    00 (checks on measurements) and 06 (every later cell guarded) run; 06 also partly answered, 1F1B
    and interleaved without AFAB (its comparison of 1F1B and interleaved once read a run that existed
    only with AFAB answered). The other chapters' student copies differ from what nbval runs only in
    their answer, check and guarded cells, which test_no_cell_uses_an_answer_without_a_guard reads
    for all seven (chapter 5's Run All took 2 min)."""
    from nbclient import NotebookClient

    from ppedu.instructor.headless import signal_handlers_kept, sliced_shell_polls

    solved = nbformat.read(Path(__file__).resolve().parents[2] / "notebooks" / f"{name}.ipynb", as_version=4)
    nb, _ = student_notebook(solved, name)
    answers = {c.id: c.source for c in solved.cells if "answer" in c.metadata.get("tags", [])
               and c.metadata["exercise"] in done}
    for cell in nb.cells:
        cell.source = answers.get(cell.id, cell.source)
    # sliced polls: a cell that displays a widget would wait out the timeout (nbclient #312); the
    # handlers: a run stopped by a timeout leaves nbclient's SIGINT handler (Ctrl-C dead) otherwise
    with signal_handlers_kept(), sliced_shell_polls():
        NotebookClient(nb, timeout=600, allow_errors=False,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[-1].execution_count is not None
    names = {n: e for n, e in _answer_names(solved).items() if e in done}
    for cell in code:
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        if "check" in cell.metadata.get("tags", []):
            if cell.metadata["exercise"] in done:
                assert any(line.startswith("\u2713") for line in text.splitlines()), (cell.source, text)
            else:
                assert text.strip() == f"Exercise {cell.metadata['exercise']}: not answered yet" or \
                    text.strip().startswith("answer Exercise"), (cell.source, text)
        elif done and _guarded(cell, names) - {"*"} and _guarded(cell, names) <= set(names):
            assert cell.outputs and "answer Exercise" not in text, (cell.source, cell.outputs)


def _answer_names(nb) -> dict[str, int]:
    """Name -> exercise, for every top-level name an answer cell defines."""
    from ppedu.instructor.student_copy import assigned_names
    return {name: c.metadata["exercise"] for c in nb.cells
            if "answer" in c.metadata.get("tags", []) for name in assigned_names(c.source)}


def _guarded(cell, answers: dict[str, int]) -> set[str]:
    """Names a cell may read without an answer: all (answer and hidden-check cells: the student
    writes the one and never sees the other), those of `if answered(...)`, and in a check cell its
    exercise's answers (the stub stops the cell with "not answered yet") and what it `require`s."""
    body = ast.parse(cell.source).body
    tags = set(cell.metadata.get("tags", []))
    if {"hidden-check", "answer"} & tags:
        return {"*"}
    if "check" in tags:
        required = {a.id for node in ast.walk(ast.parse(cell.source)) if isinstance(node, ast.Call)
                    and getattr(node.func, "id", "") == "require" for a in node.args if isinstance(a, ast.Name)}
        return required | {n for n, e in answers.items() if e == cell.metadata.get("exercise")}
    if len(body) == 1 and isinstance(body[0], ast.If) and isinstance(body[0].test, ast.Call) \
            and getattr(body[0].test.func, "id", "") == "answered":
        return {a.id for a in body[0].test.args if isinstance(a, ast.Name)}
    return set()


def _top_level_loads(source: str, ctx=ast.Load) -> set[str]:
    """Names read (``ctx=ast.Store``: assigned or imported) outside function bodies (a def only reads its
    globals when called)."""
    def visit(node) -> set[str]:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return {node.name} if ctx is ast.Store else set()
        if isinstance(node, ast.Lambda):
            return set()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return {a.asname or a.name.split(".")[0] for a in node.names} if ctx is ast.Store else set()
        found = {node.id} if isinstance(node, ast.Name) and isinstance(node.ctx, ctx) else set()
        if isinstance(node, ast.ClassDef) and ctx is ast.Store:
            return {node.name}
        for child in ast.iter_child_nodes(node):
            found |= visit(child)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            found -= {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        return found
    return visit(ast.parse(source))


def _needs_after(cell, allowed: set[str], answers: dict[str, int], needs: dict[str, frozenset]) -> None:
    """Update ``needs`` (name -> the answers it exists only with) with what ``cell`` assigns: a name
    assigned only under `if answered(...)` or in a check cell (whose `with exercise(n)` stops at the
    stub) exists only with those answers; one assigned unguarded exists from then on."""
    tags = set(cell.metadata.get("tags", []))
    exercise = cell.metadata.get("exercise")
    if "answer" in tags:
        return
    if "hidden-check" in tags:   # not in the student copy at all
        guard = frozenset({f"hidden check of exercise {exercise}"})
    elif "check" in tags:
        guard = frozenset(n for n, e in answers.items() if e == exercise)
    else:
        guard = frozenset(allowed)
    for name in _top_level_loads(cell.source, ast.Store):
        if not guard:
            needs.pop(name, None)
        elif name not in needs or needs[name]:
            needs[name] = guard | needs.get(name, frozenset())


def _guard_problems(nb, name: str) -> list[str]:
    """Each cell that reads an answer, or what exists only with answers, outside a guard naming them."""
    answers = _answer_names(nb)
    needs = {name: frozenset({name}) for name in answers}
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.source.lstrip().startswith(("%", "!")):
            continue
        allowed = _guarded(cell, answers)
        if "*" not in allowed:
            own = _top_level_loads(cell.source, ast.Store)   # a name the cell assigns itself is its own
            problems += [f"{name} cell {i} reads {n!r}, which exists only with the answer(s) "
                         f"{sorted(needs[n])}, under a guard naming {sorted(allowed) or 'none'}"
                         for n in sorted(_top_level_loads(cell.source) & set(needs))
                         if not (needs[n] <= allowed or n in own and n not in answers)]
        _needs_after(cell, allowed - {"*"}, answers, needs)
    return problems


def _solution_only_reads(solved, name: str) -> list[str]:
    """Each later cell of the student copy that reads a name an answer cell binds only inside its
    solution block (the stub does not bind it: a loop variable, an import, a helper)."""
    student, _ = student_notebook(solved, name)
    by_id = {c.id: c for c in student.cells}
    solution_only: dict[str, int] = {}
    problems = []
    for i, cell in enumerate(solved.cells):
        mine = by_id.get(cell.id)
        if mine is None or cell.cell_type != "code":   # hidden checks are not in the student copy
            continue
        if "answer" in cell.metadata.get("tags", []):
            bound = _top_level_loads(cell.source, ast.Store) - _top_level_loads(mine.source, ast.Store)
            solution_only.update((n, cell.metadata["exercise"]) for n in bound)
        else:
            problems += [f"{name} cell {i} reads {n!r}, bound only by exercise {solution_only[n]}'s "
                         "solution: the student copy's stub does not define it"
                         for n in sorted(_top_level_loads(mine.source) & set(solution_only))]
    return problems


NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_uses_an_answer_without_a_guard(path: Path) -> None:
    """Static check of all seven chapters: outside answer cells, a cell that reads an answer runs
    only `if answered(<it>)` (or is a check cell of its exercise), so Run All on an empty student
    copy never stops there. The same holds for what exists only with answers: a name assigned
    under `if answered(...)` or in a check cell (e.g. a measurement of the student's loop) is read
    only under a guard naming all those answers, so a partly answered copy never stops there either."""
    problems = _guard_problems(nbformat.read(path, as_version=4), path.name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_reads_a_name_only_a_solution_defines(path: Path) -> None:
    """Static check of the student copy: no cell reads a name only a solution block binds, which
    would stop Run All with a NameError however much the student answered."""
    problems = _solution_only_reads(nbformat.read(path, as_version=4), path.name)
    assert not problems, "\n".join(problems)


def _exercise_cells(*cells: tuple[str, list[str], int | None]):
    return new_notebook(cells=[new_code_cell(src, metadata={"tags": tags, **({"exercise": ex} if ex else {})})
                               for src, tags, ex in cells])


def test_the_static_checks_find_a_partly_answered_copys_name_errors() -> None:
    """What the two checks above must catch: 06's interleaved comparison read the 1F1B run, which
    existed only with AFAB answered too; a name bound only inside a solution block."""
    nb = _exercise_cells(
        ("def a(stage):\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION", ["answer"], 1),
        ("def b(stage):\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION", ["answer"], 2),
        ("if answered(a, b):\n    run_b = measure(b)", [], None),
        ("if answered(b):\n    print(run_b)", [], None),
        ("with exercise(2):\n    check(run_b)", ["check"], 2),
        ("with exercise(2):\n    require(a)\n    check(run_b)", ["check"], 2),
        ("if answered(a, b):\n    print(run_b)", [], None))
    assert [p.split(",")[0] for p in _guard_problems(nb, "nb")] == ["nb cell 3 reads 'run_b'", "nb cell 4 reads 'run_b'"]
    nb = _exercise_cells(
        ("# BEGIN SOLUTION\nimport math\nfor k in range(3):\n    total = k\n# END SOLUTION", ["answer"], 1),
        ("print(total)", [], None), ("print(math.pi, k)", [], None))
    assert [p.split(",")[0] for p in _solution_only_reads(nb, "nb")] == [   # the stub binds none
        "nb cell 1 reads 'total'", "nb cell 2 reads 'k'", "nb cell 2 reads 'math'"]
