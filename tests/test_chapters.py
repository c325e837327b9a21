"""Each notebook imports ppedu from one place, its chapter's facade (``ppedu.chapters.chN``), and a
facade only re-exports: imports and a docstring naming what it offers, exactly the names its
notebook imports (so a name the notebook stops using leaves the facade too)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHAPTERS = ROOT / "ppedu" / "chapters"


def _facade_of(notebook: Path) -> str:
    return f"ppedu.chapters.ch{int(notebook.name[:2])}"


def _ppedu_imports(notebook: Path) -> list[tuple[str, str]]:
    """(module, name bound) for every ppedu import in the notebook's code cells."""
    found = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(TransformerManager().transform_cell(cell.source))):
            if isinstance(node, ast.Import):
                found += [(a.name, a.asname or a.name) for a in node.names
                          if a.name == "ppedu" or a.name.startswith("ppedu.")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ppedu":
                found += [(node.module, a.asname or a.name) for a in node.names]
    return found


def _facade_tree(notebook: Path) -> ast.Module:
    return ast.parse((CHAPTERS / f"ch{int(notebook.name[:2])}.py").read_text(encoding="utf-8"))


def test_every_notebook_has_a_facade_and_every_facade_a_notebook():
    assert NOTEBOOKS, "no notebooks found"
    facades = {p.stem for p in CHAPTERS.glob("ch*.py")}
    assert facades == {_facade_of(nb).rsplit(".", 1)[1] for nb in NOTEBOOKS}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_imports_ppedu_from_its_facade_only(notebook: Path):
    imports = _ppedu_imports(notebook)
    assert imports, f"{notebook.name} imports nothing from ppedu"
    others = sorted({module for module, _ in imports} - {_facade_of(notebook)})
    assert not others, f"{notebook.name} imports from {others}; import from {_facade_of(notebook)}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_facade_only_re_exports_what_its_notebook_imports(notebook: Path):
    tree = _facade_tree(notebook)
    doc = ast.get_docstring(tree) or ""
    body = tree.body[1:] if doc else tree.body
    assert all(isinstance(n, ast.ImportFrom) and n.level == 0 and n.module.startswith("ppedu.")
               for n in body), f"{_facade_of(notebook)}: only `from ppedu... import` lines, no logic"
    offered = [a.asname or a.name for n in body for a in n.names]
    assert len(offered) == len(set(offered)), f"{_facade_of(notebook)} binds a name twice"
    wanted = {name for _, name in _ppedu_imports(notebook)}
    assert set(offered) == wanted, (f"{_facade_of(notebook)} offers {sorted(set(offered) - wanted)} that "
                                    f"{notebook.name} does not import, lacks {sorted(wanted - set(offered))}")
    assert notebook.name in doc, f"{_facade_of(notebook)}'s docstring should name {notebook.name}"
    unlisted = [name for name in offered if not re.search(rf"(?<![\w.]){re.escape(name)}\b", doc)]
    assert not unlisted, f"{_facade_of(notebook)}'s docstring does not list {unlisted}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_facade_imports(notebook: Path):
    """Every name resolves (a renamed function breaks this test, not a student's first cell)."""
    facade = importlib.import_module(_facade_of(notebook))
    for _, name in _ppedu_imports(notebook):
        assert hasattr(facade, name), name
