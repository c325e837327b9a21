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

``python -m ppedu.i18n.book status`` lists them. :func:`chinese_tree` turns a copy of course/ into
the Chinese book (``python -m ppedu.instructor.book.build --lang zh``); the measured figures are the English
book's, with captions from ``course/zh/figure_captions.units`` (:func:`translate_figures`).
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

from ppedu.i18n.notebooks import ROOT, Unit, english_hash, join_cjk_lines

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


# ---- the Chinese book: a copy of course/ whose pages are the Chinese ones ------------------------

TOC_CAPTIONS = {"Getting started": "入门", "Chapters": "章节", "Reference": "参考"}
TITLE = "ppedu：流水线并行，实测出来的"
FOOTER = "本书中的数字要么在页面上推导得出，要么由注明的命令实测得到。"
CAPTIONS = CHINESE_BOOK / "figure_captions.units"   # one unit per figure caption, keyed by figure name
_FIGCAPTION = re.compile(r"<figcaption>(?P<caption>.*?) Measured by: (?P<cmd><code>.*?</code>) "
                         r"\(made by (?P<by><code>.*?</code>)\)\.</figcaption>", re.S)


def chinese_tree(source: Path, chinese: Path = CHINESE_BOOK) -> list[str]:
    """Turn ``source`` (a copy of course/) into the Chinese book: every page that has a Chinese
    version is replaced by it (its wrapped lines joined: :func:`join_cjk_lines`), the toc's captions, the title and Sphinx's language become
    Chinese. Returns the pages still English (none once every page is translated)."""
    english = []
    for page in sorted(source.glob("*.md")):
        zh = chinese / page.name
        if zh.is_file():
            page.write_text(join_cjk_lines(zh.read_text(encoding="utf-8")), encoding="utf-8")
        else:
            english.append(page.name)
    toc = (source / "_toc.yml").read_text(encoding="utf-8")
    for en, zh_caption in TOC_CAPTIONS.items():
        toc = toc.replace(f"caption: {en}\n", f"caption: {zh_caption}\n")
    (source / "_toc.yml").write_text(toc, encoding="utf-8")
    config = (source / "_config.yml").read_text(encoding="utf-8")
    config = re.sub(r'^title: .*$', f'title: "{TITLE}"', config, count=1, flags=re.M)
    config = re.sub(r'^  extra_footer: .*$', f'  extra_footer: "{FOOTER}"', config, count=1, flags=re.M)
    config = re.sub(r'^    language: en$', "    language: zh_CN", config, count=1, flags=re.M)
    (source / "_config.yml").write_text(config, encoding="utf-8")
    return english


def caption_problems(english: dict[str, str], units: Path = CAPTIONS) -> list[str]:
    """Every figure caption (name -> English caption) without an up-to-date Chinese unit."""
    found = read_units(units) if units.exists() else {}
    out = []
    for name, text in english.items():
        unit = found.get(name)
        if unit is None or not unit.text.strip():
            out.append(f"{units.name}: figure {name}: not translated")
        elif unit.english_hash != english_hash(text):
            out.append(f"{units.name}: figure {name}: stale, the English caption changed "
                       f"(stamp {unit.english_hash}, English now {english_hash(text)})")
    return out + [f"{units.name}: unit {k} names no figure" for k in found if k not in english]


def translate_figures(figures: Path, units: Path = CAPTIONS) -> int:
    """Rewrite the captions of the measured figures in ``figures`` (``<name>.html``, shared with
    the English book: the plots are the same measurement) into Chinese; the command stays as it
    is. A figure without a Chinese caption keeps its English one. Returns how many changed."""
    found = read_units(units) if units.exists() else {}
    changed = 0
    for path in sorted(figures.glob("*.html")):
        unit = found.get(path.stem)
        if unit is None or not unit.text.strip():
            continue
        text = path.read_text(encoding="utf-8")
        new = _FIGCAPTION.sub(lambda m: f"<figcaption>{html.escape(unit.text.strip())}测量命令："
                              f"{m['cmd']}（由 {m['by']} 生成）。</figcaption>", text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed += 1
    return changed


def _status() -> int:
    lines = [line for page in sorted(ENGLISH_BOOK.glob("*.md")) for line in problems(page)]
    print("\n".join(lines) if lines else "every section of every book page has an up-to-date translation")
    return 1 if lines else 0


if __name__ == "__main__":
    if sys.argv[1:] != ["status"]:
        print("usage: python -m ppedu.i18n.book status", file=sys.stderr)
        sys.exit(2)
    sys.exit(_status())
