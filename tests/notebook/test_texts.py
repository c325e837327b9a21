"""The notebooks' printed sentences and figure titles (ppedu.notebook.texts): every key a notebook
names exists, gets the fields its message formats, and no message is left that no notebook uses."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import nbformat
import pytest

from ppedu.notebook import texts

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _calls() -> list[tuple[str, str, set[str] | None]]:
    """(notebook, key, keyword names; None when a dict is passed too) of every say/text call (its
    key a string, or a choice between two)."""
    found = []
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                        node.func.id in ("say", "text") and node.args:
                    first = node.args[0]   # "02.x", or "03.meets" if ... else "03.misses"
                    keys = [first] if isinstance(first, ast.Constant) else [first.body, first.orelse]
                    spread = len(node.args) > 1 or any(k.arg is None for k in node.keywords)   # a dict or **d
                    names = None if spread else {k.arg for k in node.keywords}
                    found += [(path.name, key.value, names) for key in keys]
    return found


def _fields(message: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


CALLS = _calls()


@pytest.mark.parametrize("notebook, key, names", CALLS, ids=[f"{n[:2]}:{k}" for n, k, _ in CALLS])
def test_a_notebook_names_an_existing_text_with_its_fields(notebook: str, key: str, names: set[str] | None):
    assert key in texts.TEXTS, f"{notebook}: no text {key!r} in ppedu.notebook.texts"
    assert key.startswith(notebook[:2] + "."), f"{notebook} uses another notebook's text {key!r}"
    if names is not None:
        assert names == _fields(texts.TEXTS[key]), f"{notebook}: {key!r} formats {_fields(texts.TEXTS[key])}, gets {names}"


def test_every_text_is_used_by_its_notebook():
    assert set(texts.TEXTS) == {key for _, key, _ in CALLS}, "texts no notebook shows"


def test_text_fills_from_dicts_and_keywords_and_says_it(capsys):
    texts.say("05.ratio", {"ratio": 1.0}, ratio=2.345)   # a keyword wins over the dict
    assert capsys.readouterr().out == "continuous / static throughput: 2.35x\n"
    with pytest.raises(KeyError):
        texts.text("00.first", p=4)   # a missing field is an error, not a silent blank
