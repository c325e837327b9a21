"""Chinese notebooks from the English ones: the code is the English code, only Markdown differs.

A translation file ``course/zh/notebooks/<notebook>.md`` holds one unit per Markdown cell::

    <!-- cell 8501cf8c en=3f2a1b9c4d5e -->
    # 0 · 环境准备 ...

``cell`` is the English cell's id, ``en`` the first 12 hex digits of the SHA-256 of the English
source it translates. When the English cell changes, its hash changes and :func:`problems` names
the unit as stale, so a translation can never silently fall behind. Code cells are never
translated: :func:`translate` copies them, with their tags and metadata, from the English notebook.

``python -m ppedu.i18n.notebooks status`` lists what is missing or stale (with the new English);
``python -m ppedu.i18n.notebooks build OUT`` writes the Chinese notebooks to OUT.
"""

from __future__ import annotations

import copy
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGLISH = ROOT / "notebooks"
TRANSLATIONS = ROOT / "course" / "zh" / "notebooks"
_HEADER = re.compile(r"^<!-- cell (\S+) en=([0-9a-f]{12}) -->$")
_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"   # ideographs, CJK and full-width punctuation
_CJK_END, _CJK_START = re.compile(f"[{_CJK}]$"), re.compile(f"[ \t]*[{_CJK}]")


@dataclass(frozen=True)
class Unit:
    """One translated Markdown cell."""
    cell_id: str
    english_hash: str
    text: str


def english_hash(source: str) -> str:
    """The stamp a unit carries: 12 hex digits of the SHA-256 of the English cell's source."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]


def read_units(path: Path) -> dict[str, Unit]:
    """The units of one translation file, by cell id."""
    units: dict[str, Unit] = {}
    current: tuple[str, str] | None = None
    lines: list[str] = []

    def close() -> None:
        if current is not None:
            units[current[0]] = Unit(current[0], current[1], "\n".join(lines).strip("\n"))

    for line in path.read_text(encoding="utf-8").splitlines():
        match = _HEADER.match(line)
        if match:
            close()
            current, lines = (match.group(1), match.group(2)), []
        elif current is not None:
            lines.append(line)
    close()
    return units


def translation_file(notebook: Path, translations: Path = TRANSLATIONS) -> Path:
    """Where the translation of ``notebook`` lives."""
    return translations / f"{notebook.stem}.md"


def problems(notebook: Path, translations: Path = TRANSLATIONS) -> list[str]:
    """Every Markdown cell of ``notebook`` without an up-to-date translation, one line each
    (``02_bubbles.ipynb cell 5a1c...: stale, the English changed since it was translated``)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    tr = translation_file(notebook, translations)
    units = read_units(tr) if tr.exists() else {}
    found, ids = [], set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        ids.add(cell.id)
        unit = units.get(cell.id)
        where = f"{notebook.name} cell {index} ({cell.id})"
        if unit is None or not unit.text.strip():
            found.append(f"{where}: not translated")
        elif unit.english_hash != english_hash(cell.source):
            found.append(f"{where}: stale, the English changed since it was translated "
                         f"(stamp {unit.english_hash}, English now {english_hash(cell.source)})")
    found += [f"{tr.name}: unit {cid} translates no Markdown cell of {notebook.name}"
              for cid in sorted(set(units) - ids)]
    return found


def join_cjk_lines(markdown: str) -> str:
    """``markdown`` with every line break between two Chinese characters removed, except in code
    fences and after a glossary's term line. The translations are wrapped like the English source,
    but a browser renders a soft line break as a space, and Chinese puts none between words."""
    out: list[str] = []
    fence, glossary = None, False
    for line in markdown.split("\n"):
        stripped = line.strip()
        marker = stripped[:3] if stripped.startswith(("```", "~~~")) else None
        closing = marker is not None and not stripped.strip("`~")
        prev = out[-1] if out else ""
        if fence is None and not marker and prev and _CJK_END.search(prev) and _CJK_START.match(line) \
                and not prev.lstrip().startswith(("#", "|")) \
                and (not glossary or prev[:1].isspace()):   # a heading, a row, a term: own line
            out[-1] = prev + stripped
            continue
        out.append(line)
        if fence is not None:
            fence = None if marker == fence and closing else fence
        elif marker and glossary and closing:
            glossary = False
        elif marker:
            glossary, fence = (True, None) if stripped[3:].startswith("{glossary}") else (False, marker)
    return "\n".join(out)


def translate(nb, units: dict[str, Unit]):
    """A copy of notebook ``nb`` whose Markdown cells are replaced by their translations (an
    untranslated cell stays English rather than becoming empty); code cells are untouched."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        unit = units.get(cell.get("id", ""))
        if cell.cell_type == "markdown" and unit is not None and unit.text.strip():
            cell.source = join_cjk_lines(unit.text)
    out.metadata["language_info"] = dict(out.metadata.get("language_info", {}), name="python")
    out.metadata["ppedu_lang"] = "zh"
    return out


def build(out: Path, src: Path = ENGLISH) -> list[Path]:
    """Write the Chinese version of every notebook of ``src`` into ``out``; return the paths."""
    import nbformat

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("*.ipynb")):
        tr = translation_file(path)
        units = read_units(tr) if tr.exists() else {}
        target = out / path.name
        nbformat.write(translate(nbformat.read(path, as_version=4), units), target)
        written.append(target)
    return written


def _status() -> int:
    lines = [line for path in sorted(ENGLISH.glob("*.ipynb")) for line in problems(path)]
    print("\n".join(lines) if lines else "every Markdown cell has an up-to-date translation")
    return 1 if lines else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "build":
        for written in build(Path(sys.argv[2])):
            print(f"wrote {written}")
        sys.exit(0)
    if sys.argv[1:] == ["status"]:
        sys.exit(_status())
    print("usage: python -m ppedu.i18n.notebooks status | build OUT", file=sys.stderr)
    sys.exit(2)
