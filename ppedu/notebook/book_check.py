"""Find the ``ppedu`` commands the book shows, so that a test can run every one of them.

    from ppedu.notebook.book_check import shown_commands
    for cmd in shown_commands(root):          # course/*.md, README.md, notebooks' markdown cells
        cmd.where, cmd.text, cmd.fenced       # 'course/02_bubbles.md:52', 'ppedu train ...', False

A command is a ```-fenced line (bash continuations ``\\`` joined, ``# comments`` dropped) or an
inline `code` span (which may wrap over lines) that starts with ``ppedu `` or runs ``ppedu.cli``
under ``torchrun``. Spans that are only a fragment (`--schedule 1f1b`) are not commands. Also
``fenced_blocks`` (the framework configurations: bash, python, json, toml) for the planner test.
Torch-free and dependency-free (the notebooks are read as JSON).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Block:
    """One fenced block: its language tag and body."""
    source: str
    line: int
    lang: str
    body: str


def documents(root: Path) -> list[tuple[str, str, bool]]:
    """(relative path, markdown text, is_notebook) for the book's chapters, README and notebooks.
    A notebook's markdown cells are joined with a NUL-marked separator so lines map to cells."""
    root = Path(root)
    out = [(p.relative_to(root).as_posix(), p.read_text(encoding="utf-8"), False)
           for p in [*sorted((root / "course").glob("*.md")), root / "README.md"]]
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        for index, cell in enumerate(cells):
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"])
                out.append((f"{nb.relative_to(root).as_posix()}#cell{index}", text, True))
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


def fenced_blocks(root: Path) -> list[Block]:
    """Every ```-fenced block of the book, with its language tag."""
    blocks = []
    for source, text, notebook in documents(root):
        for match in FENCE.finditer(text):
            line = 0 if notebook else text.count("\n", 0, match.start()) + 1
            blocks.append(Block(_source(source), line if not notebook else _cell(source),
                                match.group(2).strip(), match.group(3)))
    return blocks


def shown_commands(root: Path) -> list[Shown]:
    """Every ``ppedu`` command in fenced blocks and inline spans, in reading order."""
    found = []
    for source, text, notebook in documents(root):
        where = (lambda pos: _cell(source)) if notebook else (lambda pos: text.count("\n", 0, pos) + 1)
        for match in FENCE.finditer(text):
            body_start = match.start(3)
            for offset, line in _shell_lines(match.group(3)):
                if _is_command(line):
                    line_no = where(body_start) + (0 if notebook else offset)
                    found.append(Shown(_source(source), line_no,
                                       " ".join(line.split()), True))
        prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
        for match in INLINE.finditer(prose):
            span = " ".join(match.group(1).split())
            if _is_command(span):
                line_no = _cell(source) if notebook else prose.count("\n", 0, match.start()) + 1
                found.append(Shown(_source(source), line_no, span, False))
    return found


def _source(source: str) -> str:
    return source.split("#cell")[0]


def _cell(source: str) -> int:
    return int(source.split("#cell")[1]) if "#cell" in source else 0


def run_cli(command: str, cwd: Path | None = None) -> tuple[int, str]:
    """Run ``ppedu ARGS`` in this process (warm clusters are reused): (exit status, stdout).
    An argparse exit (``--help``: 0, a usage error: 2) is returned as the status."""
    from ppedu.cli import main
    out, here = io.StringIO(), os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out):
            try:
                rc = main(command.split())
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(here)
    return rc, out.getvalue()
