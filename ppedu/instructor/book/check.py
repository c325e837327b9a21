"""Find the ``ppedu`` commands the book shows, so that a test can run every one of them.

    from ppedu.instructor.book.check import shown_commands
    for cmd in shown_commands(root):          # course/*.md, README.md, notebooks' markdown cells
        cmd.where, cmd.text, cmd.fenced       # 'course/02_bubbles.md:52', 'ppedu train ...', False

A command is a ```-fenced line (bash continuations ``\\`` joined, ``# comments`` dropped) or an
inline `code` span (which may wrap over lines) that starts with ``ppedu `` or runs ``ppedu.cli``
under ``torchrun``. Spans that are only a fragment (`--schedule 1f1b`) are not commands.
``run_cli`` runs one in this process. Torch-free (the notebooks are read as JSON).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ppedu import cli

FENCE = re.compile(r"^(`{3,}|~{3,})([^\n]*)\n(.*?)^\1[ \t]*$", re.S | re.M)
INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
COMMENT = re.compile(r"(^|\s)#.*$")


@dataclass(frozen=True)
class Shown:
    """One command as the book shows it."""
    source: str      # path relative to the repository root
    line: int        # 1-based line (markdown) or cell index (notebook)
    text: str        # the command, whitespace collapsed to single spaces
    fenced: bool     # in a ``` block (True) or an inline span (False)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def argv(self) -> list[str]:
        """The arguments after ``ppedu`` / ``-m ppedu.cli`` (quotes are not used in the book)."""
        words = self.text.split()
        start = words.index("ppedu.cli") + 1 if "ppedu.cli" in words else words.index("ppedu") + 1
        return words[start:]

    @property
    def torchrun(self) -> bool:
        return self.text.startswith("torchrun")


def documents(root: Path) -> list[tuple[str, int | None, str]]:
    """(relative path, cell index or None, markdown) for the chapters, README and each markdown
    cell of the notebooks."""
    root = Path(root)
    out = [(p.relative_to(root).as_posix(), None, p.read_text(encoding="utf-8"))
           for p in [*sorted((root / "course").glob("*.md")), root / "README.md"]]
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        out += [(nb.relative_to(root).as_posix(), index, "".join(cell["source"]))
                for index, cell in enumerate(cells) if cell["cell_type"] == "markdown"]
    return out


def _is_command(text: str) -> bool:
    words = text.split()
    if not words:
        return False
    return (words[0] == "ppedu" and len(words) > 1) or (words[0] == "torchrun" and "ppedu.cli" in words)


def _shell_lines(body: str) -> list[tuple[int, str]]:
    """Logical lines of a shell block: comments dropped, ``\\`` continuations joined."""
    out, pending, start = [], "", 0
    for offset, raw in enumerate(body.splitlines()):
        line = COMMENT.sub("", raw).rstrip()
        if not pending:
            start = offset
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append((start, pending + line))
        pending = ""
    if pending:
        out.append((start, pending))
    return out


def shown_commands(root: Path) -> list[Shown]:
    """Every ``ppedu`` command in fenced blocks and inline spans: blocks first, then the prose, per
    document. ``line`` is the 1-based line in a markdown file, the cell index in a notebook."""
    found = []
    for source, cell, text in documents(root):
        def line_of(page: str, pos: int, offset: int = 0) -> int:
            return cell if cell is not None else page.count("\n", 0, pos) + 1 + offset

        for match in FENCE.finditer(text):
            for offset, line in _shell_lines(match.group(3)):
                if _is_command(line):
                    found.append(Shown(source, line_of(text, match.start(3), offset),
                                       " ".join(line.split()), True))
        prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)   # keeps line numbers
        for match in INLINE.finditer(prose):
            span = " ".join(match.group(1).split())
            if _is_command(span):
                found.append(Shown(source, line_of(prose, match.start()), span, False))
    return found


def run_cli(command: str, cwd: Path | None = None) -> tuple[int, str]:
    """Run ``ppedu ARGS`` in this process (warm clusters are reused): (exit status, stdout).
    An argparse exit (``--help``: 0, a usage error: 2) is returned as the status."""
    out, here = io.StringIO(), os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out):
            try:
                rc = cli.main(command.split())
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(here)
    return rc, out.getvalue()
