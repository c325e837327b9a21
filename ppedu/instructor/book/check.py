"""Find the ``ppedu`` commands the book shows, so that a test can run every one of them.

    from ppedu.instructor.book.check import shown_commands
    for cmd in shown_commands(root):          # course/*.md, README.md, notebooks' markdown cells
        cmd.where, cmd.text, cmd.fenced       # 'course/02_bubbles.md:52', 'ppedu train ...', False

A command is a ```-fenced line (bash continuations ``\\`` joined, ``# comments`` dropped) or an
inline `code` span (which may wrap over lines) that starts with ``ppedu `` or runs ``ppedu.cli``
under ``torchrun``. Spans that are only a fragment (`--schedule 1f1b`) are not commands.
``run_cli`` runs one in this process. Torch-free (the notebooks are read as JSON).

A fenced block that is not a shell script and whose first line is a ``ppedu`` command shows that
command's output below it: ``shown_outputs`` finds those, ``output_mismatch`` compares one with
what the command prints (``...`` stands for any run of lines).
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


SCRIPTS = ("bash", "sh", "shell", "console", "python", "json", "toml", "yaml")   # fences that are not outputs


@dataclass(frozen=True)
class ShownOutput:
    """A command and the output the book prints below it, in one fenced block."""
    where: str
    command: str            # without the leading ``ppedu``
    lines: tuple[str, ...]  # as shown, ``...`` eliding any run of lines


def shown_outputs(docs: list[tuple[str, int | None, str]]) -> list[ShownOutput]:
    """Every fenced output block of ``docs`` (``documents``' triples: path, cell or None, text)."""
    found = []
    for source, cell, text in docs:
        for match in FENCE.finditer(text):
            first, *rest = match.group(3).rstrip("\n").splitlines() or [""]
            if match.group(2).strip() in SCRIPTS or not rest or first.split()[:1] != ["ppedu"]:
                continue
            line = cell if cell is not None else text.count("\n", 0, match.start(3)) + 1
            found.append(ShownOutput(f"{source}:{line}", " ".join(first.split()[1:]),
                                     tuple(r.rstrip() for r in rest)))
    return found


def output_mismatch(shown: tuple[str, ...], printed: str) -> str | None:
    """None when ``printed`` is ``shown`` with each ``...`` standing for a run of at least one
    line; else the first shown line that is not where it should be."""
    out = [line.rstrip() for line in printed.rstrip("\n").splitlines()]
    segments: list[list[str]] = [[]]
    for line in shown:
        if line.strip() == "...":
            segments.append([])
        else:
            segments[-1].append(line)
    at = 0
    for i, segment in enumerate(segments):
        earliest = at + (i > 0)                           # after "...", at least one line is elided
        if i == len(segments) - 1:                        # the last segment ends the output
            starts = [len(out) - len(segment)] if len(out) - len(segment) >= earliest else []
        else:                                             # the first starts it; a middle one anywhere
            starts = [0] if i == 0 else range(earliest, len(out) - len(segment) + 1)
        hit = next((s for s in starts if out[s:s + len(segment)] == segment), None)
        if hit is None:
            if not segment:
                return "... (no line left to elide)"
            if len(starts) == 1 and starts[0] >= 0:       # a fixed place: name the first line that differs
                got = out[starts[0]:starts[0] + len(segment)]
                return next(line for line, o in zip(segment, got + [None] * len(segment)) if line != o)
            return segment[0]
        at = hit + len(segment)
    return None


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
