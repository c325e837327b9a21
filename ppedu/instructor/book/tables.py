"""The book's derived numbers, computed: every table or number in course/ that follows from a formula.

    python -m ppedu.instructor.book.tables course notebooks          # rewrite every computed block
    python -m ppedu.instructor.book.tables --check course notebooks  # exit 1 naming each stale block

A computed block sits between two HTML comments, which Markdown (and the built book) do not show:

    <!-- computed: idle_share_table(p=4, ms=[1, 4, 8, 16, 32]) -->
    | $m$ | 1 | 4 | ...
    <!-- /computed -->

or inline, on one line: ``the idle share is <!-- computed: percent("gpipe", 4, 16) -->15.8 %<!-- /computed -->``.
The opening comment names one generator of ``ppedu.instructor.book.blocks`` (or ``.sizes``) and its arguments (Python
literals only; nothing else is evaluated); ``fmt="$t_0 = {} $"`` puts the result into a template,
for a number that sits inside math. A block form (a newline right after the opening
comment) gets the generator's text on lines of its own. ``tests/course/test_book_tables.py`` fails,
naming the file, line and call, when the committed text differs from what the code computes; the
rewrite is the fix. Measured numbers (from runs) are never inside such a block.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ppedu.errors import UsageError
from ppedu.instructor.book import sizes  # noqa: F401 - registers the planner's generators in GENERATORS
from ppedu.instructor.book.blocks import GENERATORS

MARKER = re.compile(r"<!-- computed: (?P<call>.+?) -->(?P<body>.*?)<!-- /computed -->", re.S)
OPEN = "<!-- computed:"


@dataclass(frozen=True)
class Block:
    """One computed block as committed: where it is, what it calls, what it says, what it should say."""
    where: str          # "course/03_micro_batches.md:55"
    call: str
    committed: str
    computed: str

    @property
    def stale(self) -> bool:
        return self.committed != self.computed


def evaluate(call: str) -> str:
    """The text generator ``name(args)`` makes; arguments must be literals (UsageError otherwise)."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except SyntaxError as exc:
        raise UsageError(f"computed block: cannot parse {call!r} ({exc.msg})") from None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise UsageError(f"computed block must be a call like name(args) (got {call!r})")
    name = node.func.id
    if name not in GENERATORS:
        raise UsageError(f"computed block: generator must be one of {', '.join(sorted(GENERATORS))} "
                         f"(got {name!r})")
    try:
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    except ValueError:
        raise UsageError(f"computed block: arguments must be literals (got {call!r})") from None
    template = kwargs.pop("fmt", "{}")   # e.g. fmt="$m \\le {}$": the number inside its sentence's math
    return template.format(GENERATORS[name](*args, **kwargs))


def _body(generated: str, block_form: bool) -> str:
    return f"\n{generated}\n" if block_form else generated


def blocks(text: str, source: str = "") -> list[Block]:
    """Every computed block of ``text`` with its committed and its computed body."""
    found = []
    for match in MARKER.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        body = match.group("body")
        block_form = body.startswith("\n")
        computed = _body(evaluate(match.group("call")), block_form)
        found.append(Block(f"{source}:{line}", match.group("call"), body, computed))
    unmatched = text.count(OPEN) - len(found)
    if unmatched:
        raise UsageError(f"{source}: {unmatched} '{OPEN}' marker(s) without their '<!-- /computed -->'")
    return found


def rewrite(text: str, source: str = "") -> str:
    """``text`` with every computed block's body replaced by what its generator makes now."""
    blocks(text, source)   # raises on unknown generators and unclosed markers first

    def fresh(match: re.Match) -> str:
        block_form = match.group("body").startswith("\n")
        body = _body(evaluate(match.group("call")), block_form)
        return f"<!-- computed: {match.group('call')} -->{body}<!-- /computed -->"
    return MARKER.sub(fresh, text)


def _markdown_files(paths: list[Path]) -> list[Path]:
    out = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix in (".md", ".ipynb"))
        elif path.suffix in (".md", ".ipynb"):
            out.append(path)
        else:
            raise UsageError(f"path must be a folder, a .md or an .ipynb file (got {str(path)!r})")
    return out


def file_blocks(path: Path) -> list[Block]:
    """The computed blocks of one Markdown page or of one notebook's Markdown cells."""
    if path.suffix == ".md":
        return blocks(path.read_text(encoding="utf-8"), str(path))
    import nbformat
    notebook = nbformat.read(path, as_version=4)
    return [b for i, cell in enumerate(notebook.cells) if cell.cell_type == "markdown"
            for b in blocks(cell.source, f"{path} cell {i}")]


def rewrite_file(path: Path) -> bool:
    """Rewrite ``path`` in place; True when something changed."""
    if path.suffix == ".md":
        old = path.read_text(encoding="utf-8")
        new = rewrite(old, str(path))
        if new != old:
            path.write_text(new, encoding="utf-8")
        return new != old
    import nbformat
    notebook = nbformat.read(path, as_version=4)
    changed = False
    for i, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown" and OPEN in cell.source:
            new = rewrite(cell.source, f"{path} cell {i}")
            changed, cell.source = changed or new != cell.source, new
    if changed:
        nbformat.write(notebook, path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ppedu.instructor.book.tables",
                                     description="Rewrite (or --check) the computed blocks of the book.")
    parser.add_argument("paths", nargs="+", type=Path, help="folders or files (.md, .ipynb)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block is stale")
    args = parser.parse_args(argv)
    try:
        files = _markdown_files(args.paths)
        if args.check:
            stale = [b for f in files for b in file_blocks(f) if b.stale]
            for b in stale:
                print(f"{b.where}: {b.call}\n  committed: {b.committed.strip()!r}\n"
                      f"  computed:  {b.computed.strip()!r}")
            return 1 if stale else 0
        for f in files:
            if rewrite_file(f):
                print(f"rewrote {f}")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
