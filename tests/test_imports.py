"""The package's shape, read statically: no import cycle among ppedu modules (imports inside
functions included: a lazy import hides a cycle, it does not remove it), and every
``__init__`` docstring names exactly the modules of its folder."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ppedu"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The ppedu modules ``path`` imports anywhere in its body (``from a import b`` counts as
    ``a.b`` where b is a module, else ``a``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("ppedu"):
            subs = {f"{node.module}.{a.name}" for a in node.names}
            found = subs & set(modules)
            out |= found or {node.module}
            if found != subs and node.module in modules:
                out.add(node.module)
    return out - {_module_name(path)}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None
    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_hidden_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_ppedu_modules():
    modules = _modules()
    graph = {name: {m for m in _imports(path, modules) if m in modules} for name, path in modules.items()}
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"


def test_every_init_docstring_names_exactly_its_modules():
    """Modules and sub-folders, each on its own line; nothing listed that is not there."""
    for init in sorted(PACKAGE.rglob("__init__.py")):
        folder = init.parent
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        # one entry per line: a name (a folder ends in /), two spaces or more, what it holds
        named = set(re.findall(r"^\s*([a-z_][a-z0-9_]*)/?  ", doc, re.MULTILINE))
        present = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"} | \
            {p.name for p in folder.iterdir() if p.is_dir() and p.name != "__pycache__"}
        assert named == present, (f"{init.relative_to(PACKAGE.parent)}: the docstring lists "
                                  f"{sorted(named - present)} that do not exist and misses "
                                  f"{sorted(present - named)}")


def test_each_command_has_one_help_line_in_one_place():
    """``ppedu.cli`` holds every command's help line (``ppedu --help`` imports no command); a
    command module holds add_arguments and run, and no help line of its own to drift apart."""
    from ppedu import cli
    assert set(cli._HELP) == set(cli.COMMANDS)
    for name, module in cli.COMMANDS.items():
        tree = ast.parse((PACKAGE / "commands" / f"{module}.py").read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)} | \
            {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        assert {"add_arguments", "run"} <= defined and "HELP" not in defined, name
