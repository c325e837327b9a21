"""The package's shape, read statically: imports only run downwards through ``LAYERS``, no import
cycle among ppedu modules (imports inside
functions included: a lazy import hides a cycle, it does not remove it), imports of ppedu modules
at the top except where one keeps torch out of a light module (each saying why), ``ppedu --help``
and every command's ``--help`` free of torch, and every ``__init__`` docstring names exactly the
modules of its folder."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ppedu"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(source: Path | ast.AST, modules: dict[str, Path], own: str | None = None) -> set[str]:
    """The ppedu modules a file (or a parsed piece of one, ``own`` naming its module) imports
    anywhere in its body (``from a import b`` counts as ``a.b`` where b is a module, else ``a``)."""
    if isinstance(source, Path):
        own, source = _module_name(source), ast.parse(source.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(source):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("ppedu"):
            subs = {f"{node.module}.{a.name}" for a in node.names}
            found = subs & set(modules)
            out |= found or {node.module}
            if found != subs and node.module in modules:
                out.add(node.module)
    return out - {own}


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


# The layers, lowest first. A unit is a folder or a top-level module of ppedu, or a module set apart
# from its folder (``i18n.catalog``); a module may import from its own unit and from lower layers
# only, never from another unit of its own layer. The package itself (``ppedu/__init__.py``: its
# docstring and version) imports nothing of ppedu and is below them all. ARCHITECTURE.md's "Layers"
# paragraph and table say the same (``test_architecture_states_these_layers``).
LAYERS = (
    ("i18n.catalog", "assets"),   # catalog: ``_()`` with no ppedu import, so that errors translates
    ("errors",),
    ("i18n",),                    # messages check the language chosen with errors.check_choice
    ("runtime", "schedules", "unanswered"),
    ("planner",),                 # plans replay the schedules' simulator and theory
    ("model",),                   # the GPT's parameter count is the planner's formula
    ("training", "tensor_parallel", "serving"),
    ("lab",),                     # the lab's Stage is training's Stage plus checks
    ("notebook",),                # checks.lab names a lab mistake with lab.diagnose
    ("instructor",),
    ("commands",),                # grade, run-notebook and student-copy run the instructor's tools
    ("chapters", "cli"),          # ch0 and ch1 show commands.doctor's and compare_tp_pp's output
)

# Imports against the layers, each with its reason: (importer, imported) -> why.
UPWARD_ON_PURPOSE = {
    ("ppedu.instructor.book.check", "ppedu.cli"):
        "runs every command the book shows through the very CLI a reader types (run_cli)",
}


def _unit(module: str) -> str | None:
    """The unit (a key of ``LAYERS``) ``module`` belongs to: the longest that is it or holds it."""
    rel = module.removeprefix("ppedu.")
    found = [u for layer in LAYERS for u in layer if rel == u or rel.startswith(u + ".")]
    return max(found, key=len) if found and module != "ppedu" else None


def _layer(unit: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if unit in layer)


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Each import of ``graph`` (module -> modules it imports) that is not downwards or in its own
    unit, nor listed in ``UPWARD_ON_PURPOSE``."""
    bad = []
    for name, targets in sorted(graph.items()):
        for target in sorted(targets):
            if target == "ppedu" or (name, target) in UPWARD_ON_PURPOSE:
                continue
            mine, theirs = _unit(name), _unit(target)
            if name == "ppedu" or (mine != theirs and _layer(theirs) >= _layer(mine)):
                bad.append(f"{name} (layer {_layer(mine) if mine else '-'}) imports {target} "
                           f"(layer {_layer(theirs)})")
    return bad


def test_every_folder_and_top_level_module_has_one_layer():
    units = [u for layer in LAYERS for u in layer]
    assert len(units) == len(set(units)), "a unit listed twice in LAYERS"
    for unit in units:
        path = PACKAGE / unit.replace(".", "/")
        assert path.is_dir() or path.with_suffix(".py").is_file(), f"LAYERS names {unit}: not in ppedu/"
    top = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} | \
        {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert top <= set(units), f"no layer for {sorted(top - set(units))}: add it to LAYERS"
    assert all(_unit(m) for m in _modules() if m != "ppedu")


def test_imports_only_run_downwards():
    modules = _modules()
    graph = {name: _imports(path, modules) & set(modules) for name, path in modules.items()}
    bad = _upward(graph)
    assert not bad, "imports against the layers (move the shared piece down, or hand it down " \
        "from above):\n" + "\n".join(bad)
    stale = [edge for edge in UPWARD_ON_PURPOSE if edge[1] not in graph.get(edge[0], ())]
    assert not stale, f"UPWARD_ON_PURPOSE lists imports that are gone: {stale}"


def test_the_layer_rule_catches_upward_and_sideways_imports():
    assert _upward({"ppedu.lab.grader": {"ppedu.notebook.grading", "ppedu.lab.stage", "ppedu.errors"},
                    "ppedu.training.engine": {"ppedu.serving.server", "ppedu"},
                    "ppedu.i18n.catalog": {"ppedu.i18n.messages"},
                    "ppedu.i18n.messages": {"ppedu.i18n.catalog", "ppedu.errors"},
                    "ppedu": {"ppedu.errors"}}) == [
        "ppedu (layer -) imports ppedu.errors (layer 1)",
        "ppedu.i18n.catalog (layer 0) imports ppedu.i18n.messages (layer 2)",
        "ppedu.lab.grader (layer 7) imports ppedu.notebook.grading (layer 8)",
        "ppedu.training.engine (layer 6) imports ppedu.serving.server (layer 6)"]


def test_no_chapter_facade_loads_the_instructor_tools():
    """``instructor`` sits below ``chapters`` (``commands`` needs it), yet a notebook never loads it:
    nothing a facade imports at the top reaches it (package ``__init__`` files included)."""
    modules = _modules()
    top = _imports_at_import(modules)
    for facade in sorted(m for m in modules if m.startswith("ppedu.chapters.")):
        seen, todo = set(), [facade]
        while todo:
            for nxt in top[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        assert not {m for m in seen if m.startswith("ppedu.instructor")}, facade


def test_architecture_states_these_layers():
    """The "Layers" paragraph's chain (top first) and table (a layer column) are ``LAYERS``."""
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    chain = section.split("Imports only run downwards:", 1)[1].split("No cycle", 1)[0]
    stated = [tuple(re.findall(r"`([^`]+)`", group)) for group in chain.split("→")]
    assert stated == list(reversed(LAYERS)), f"ARCHITECTURE.md says {stated}"
    rows = re.findall(r"^\| (\d+) \| `([a-z_.0-9]+)/?` \|", section, re.MULTILINE)
    assert sorted((u, int(n)) for n, u in rows) == \
        sorted((u, i) for i, layer in enumerate(LAYERS) for u in layer), f"ARCHITECTURE.md's table: {rows}"


def _top_level_imports(tree: ast.Module) -> list[ast.stmt]:
    """The import statements that run when the module is imported (not inside a def)."""
    found, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo += list(ast.iter_child_nodes(node))
    return found


def _imports_torch(node: ast.stmt) -> bool:
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    return any(n == "torch" or n.startswith("torch.") for n in names)


def _imports_at_import(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the ppedu modules importing it runs: its top-level imports and its parent packages."""
    top = {}
    for name, path in modules.items():
        nodes = _top_level_imports(ast.parse(path.read_text(encoding="utf-8")))
        parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        top[name] = _imports(ast.Module(body=nodes, type_ignores=[]), modules, name) | (parents & set(modules))
    return top


def _heavy(modules: dict[str, Path]) -> set[str]:
    """The ppedu modules whose import loads torch: their own top-level import, or one of a module
    they import at the top (a package's ``__init__`` included: importing ``a.b`` runs ``a``)."""
    top = _imports_at_import(modules)
    heavy = {name for name, path in modules.items()
             if any(_imports_torch(n) for n in _top_level_imports(ast.parse(path.read_text(encoding="utf-8"))))}
    while True:
        more = {n for n, deps in top.items() if n not in heavy and deps & heavy}
        if not more:
            return heavy
        heavy |= more


def _nested_ppedu_imports(path: Path, modules: dict[str, Path]):
    """(line, imported module, the source line and the one above) for each ppedu import in a def."""
    source = path.read_text(encoding="utf-8")
    lines, tree = source.splitlines(), ast.parse(source)
    top = {id(n) for n in _top_level_imports(tree)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
            for target in _imports(ast.Module(body=[node], type_ignores=[]), modules, _module_name(path)):
                yield node.lineno, target, lines[node.lineno - 2:node.lineno]



def test_function_level_imports_keep_torch_out_and_say_so():
    """A ppedu import inside a function is allowed only where importing it at the top would load
    torch into a module that otherwise does without (``--help``, simulated runs, the torch-free
    folders), and a comment on that line or the one above says so."""
    modules = _modules()
    heavy = _heavy(modules)
    bad = []
    for name, path in sorted(modules.items()):
        for line, target, text in _nested_ppedu_imports(path, modules):
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            if name in heavy or target not in heavy:
                bad.append(f"{where} inside a function but keeps no torch out: import it at the top "
                           "(a cycle that makes is a cycle already)")
            elif not any("#" in t for t in text):
                bad.append(f"{where} inside a function without a comment saying why")
    assert not bad, "\n".join(bad)


def test_the_heavy_set_follows_imports():
    """The rule above rests on ``_heavy``: a module importing torch, and whatever imports it at the
    top, is heavy; a torch-free chain is not."""
    modules = _modules()
    heavy = _heavy(modules)
    assert {"ppedu.model.gpt", "ppedu.serving.server", "ppedu.tensor_parallel.compare"} <= heavy
    assert not heavy & {"ppedu.cli", "ppedu.errors", "ppedu.schedules.simulator", "ppedu.planner.plan",
                        "ppedu.serving.scheduler", "ppedu.serving.simulator", "ppedu.runtime.cluster"}


@pytest.mark.ranks
def test_help_imports_no_torch():
    """``ppedu --help`` and each command's ``--help`` stay fast: none of them imports torch."""
    code = ("import contextlib, io, sys\nfrom ppedu import cli\n"
            "for argv in [['--help']] + [[c, '--help'] for c in cli.COMMANDS]:\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "        cli.main(argv)\n"
            "    bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
            "    if bad:\n"
            "        print(' '.join(argv), 'imported torch'); sys.exit(1)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=PACKAGE.parent)
    assert run.returncode == 0, run.stdout + run.stderr


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
