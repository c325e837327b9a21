"""The Chinese book (``course/zh/``): one translated unit per section of the English page.

An English page ``course/<page>.md`` splits into sections at its ``#`` and ``##`` headings (outside
code fences); the first section is everything before the first ``##``. The Chinese page
``course/zh/<page>.md`` is the Chinese text of each section, each preceded by a comment naming the
section it translates and a hash of that English section::

    <!-- section "## 3 · The crossover" en=3f2a1b9c4d5e -->
    ## 3 · 交叉点

MyST renders the comments as nothing, so the Chinese page is what the Chinese book builds.
:func:`problems` names every section whose English changed since it was translated, every section
with no translation, and every unit that translates no section any more.
"""

from __future__ import annotations

import re
from pathlib import Path

from ppedu.i18n.notebooks import ROOT, Unit, english_hash

ENGLISH_BOOK = ROOT / "course"
CHINESE_BOOK = ENGLISH_BOOK / "zh"
_UNIT = re.compile(r'^<!-- section "(.*)" en=([0-9a-f]{12}) -->$')


def english_sections(text: str) -> list[tuple[str, str]]:
    """(heading line, section text) for each section of an English page: the text before the
    first ``##`` (keyed by the page's ``#`` title) and one section per ``##`` heading."""
    sections: list[tuple[str, list[str]]] = []
    key, lines, fence = "", [], None
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):  # headings inside code fences are code
            fence = None if fence and stripped.startswith(fence) else (fence or stripped[:3])
        elif fence is None and line.startswith("## "):
            sections.append((key, lines))
            key, lines = line.strip(), []
        elif fence is None and line.startswith("# ") and not sections and not key:
            key = line.strip()
        lines.append(line)
    sections.append((key, lines))
    return [(k, "\n".join(body).strip("\n")) for k, body in sections if k or "".join(body).strip()]


def read_units(path: Path) -> dict[str, Unit]:
    """The units of a Chinese page, by the English heading they translate."""
    units: dict[str, Unit] = {}
    key = None
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines() + ['<!-- section "" en=000000000000 -->']:
        match = _UNIT.match(line)
        if match:
            if key is not None:
                units[key[0]] = Unit(key[0], key[1], "\n".join(lines).strip("\n"))
            key, lines = (match.group(1), match.group(2)), []
        elif key is not None:
            lines.append(line)
    return units


def problems(page: Path, chinese: Path | None = None) -> list[str]:
    """Every section of English ``page`` without an up-to-date translation in ``chinese``."""
    chinese = chinese or CHINESE_BOOK / page.name
    units = read_units(chinese) if chinese.exists() else {}
    sections = english_sections(page.read_text(encoding="utf-8"))
    found = []
    for key, text in sections:
        unit = units.get(key)
        name = f'{page.name} section "{key or "(before the first heading)"}"'
        if unit is None or not unit.text.strip():
            found.append(f"{name}: not translated")
        elif unit.english_hash != english_hash(text):
            found.append(f"{name}: stale, the English changed since it was translated "
                         f"(stamp {unit.english_hash}, English now {english_hash(text)})")
    keys = {key for key, _ in sections}
    found += [f'{chinese.name}: unit "{key}" translates no section of {page.name}'
              for key in units if key not in keys]
    return found
