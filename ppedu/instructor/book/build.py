"""Build the course book (course/, Jupyter Book 1.x) with its measured figures, in one command.

    python -m ppedu.instructor.book.build --out course-work/book      # `make book`; `make course` runs it
    python -m ppedu.instructor.book.build --lang zh --out course-work-zh/book   # the Chinese book (`make course-zh`)

Steps: copy course/ into ``build/book/course`` (course/ itself stays clean), measure the figures
into the copy (``ppedu.instructor.book.figures``), run ``jupyter-book build`` on it, and copy the HTML
to ``--out``. Formulas render offline: ``sphinx-mathjax-offline`` (named in course/_config.yml)
ships MathJax into the book's ``_static/``; plotly.js is copied there by book_figures. Nothing is
fetched from a CDN, at build time or when a page is read.

``make course`` puts the book in ``course-work/book/`` (JupyterLab's root) and serves it at
``/ppedu-book/`` (``ppedu.instructor.book.server``), so each notebook's "Reading" link opens its
chapter in a browser tab. A book newer
than every source file is kept (``--force`` rebuilds): a second ``make course`` starts at once.

``--lang zh`` builds the same copy with the Chinese pages of ``course/zh/`` in place of the English
ones (``ppedu.i18n.book.chinese_tree``); the figures are the same measurements with Chinese captions.
``--figures-from DIR`` takes the measured ``_figures/`` of an earlier build (its work folder,
e.g. ``build/book/course``) instead of measuring again: the two books share one set of figures.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from ppedu.errors import UsageError, check_choice
from ppedu.i18n import book as zh_book
from ppedu.i18n.messages import LANGUAGES
from ppedu.instructor.book.server import PREFIX

PPEDU = Path(__file__).resolve().parents[2]
ROOT = PPEDU.parent
COURSE = ROOT / "course"
GENERATED = ("_build", "_figures", "_static")   # what a build writes into a course folder
BOOK_CODE = ("instructor/book/build.py", "instructor/book/figures.py", "notebook/plots/training.py",
             "notebook/plots/frontier.py", "notebook/plots/serving.py")   # under ppedu/


def reading_link(chapter_md: str) -> str:
    """The URL a notebook's Reading line links to: the built chapter page, served from
    ``course-work/book/`` by ``ppedu.instructor.book.server`` (``make course``); JupyterLab opens a
    link that starts with ``/`` in a new browser tab."""
    name = Path(chapter_md).name
    if not name.endswith(".md"):
        raise UsageError(f"chapter_md must name a course page ending in .md, got {chapter_md!r}")
    return f"/{PREFIX}/{name[:-3]}.html"


def _sources(course: Path) -> list[Path]:
    files = [f for f in course.rglob("*")
             if f.is_file() and not any(part in GENERATED for part in f.relative_to(course).parts)]
    return files + [PPEDU / n for n in BOOK_CODE]


def up_to_date(out: Path, course: Path = COURSE) -> bool:
    """True when ``out/index.html`` is newer than every source page and the figure code."""
    index = out / "index.html"
    if not index.is_file():
        return False
    built = index.stat().st_mtime
    return all(f.stat().st_mtime < built for f in _sources(course) if f.exists())


def _jupyter_book() -> list[str]:
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found is None:
        raise UsageError("jupyter-book is not installed in this Python: run `make setup` "
                         "(pip install -e '.[lab]'), then `make book` again")
    return [found]


def build_book(out: str | Path, *, work: str | Path | None = None, course: str | Path = COURSE,
               strict: bool = False, lang: str = "en", figures_from: str | Path | None = None) -> Path:
    """Measure the figures (or copy ``figures_from``'s), build the book in ``lang`` (en, zh),
    copy its HTML to ``out``; return ``out``. ``strict``: fail on any Sphinx warning (-W -n), as
    tests/course/test_book.py does."""
    # torch: the figures run ranks; an up-to-date book (`make course` again) starts without it
    from ppedu.instructor.book import figures as book_figures
    check_choice("lang", lang, LANGUAGES)
    work = ROOT / "build" / ("book" if lang == "en" else f"book-{lang}") if work is None else work
    out, work, course = Path(out), Path(work), Path(course)
    if not (course / "_config.yml").is_file():
        raise UsageError(f"course must be the book's folder (with _config.yml), got {str(course)!r}")
    source = work / "course"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(course, source, ignore=shutil.ignore_patterns(*GENERATED))
    if figures_from is not None:
        _copy_figures(Path(figures_from), source)
    else:
        print(f"==> measuring the book's figures ({len(book_figures.FIGURES)}, about a minute)",
              flush=True)
        book_figures.build(source)
    if lang == "zh":
        for page in zh_book.chinese_tree(source):
            print(f"note: {page} has no Chinese version yet (course/zh/): built in English", file=sys.stderr)
        zh_book.translate_figures(source / "_figures")
    cmd = _jupyter_book() + ["build", str(source), "--path-output", str(work), "--keep-going"]
    proc = subprocess.run(cmd + (["-W", "-n"] if strict else []), capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    problems = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    if proc.returncode != 0:
        raise RuntimeError("jupyter-book build failed:\n"
                           + "\n".join(problems or log.splitlines()[-40:]))
    for line in problems:
        print(line, file=sys.stderr)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(work / "_build" / "html", out)
    return out


def _copy_figures(built: Path, source: Path) -> None:
    """The measured figures and plotly.js of an earlier build (a course folder with ``_figures/``)."""
    if not (built / "_figures").is_dir():
        raise UsageError(f"figures_from must be a built course folder with _figures/ "
                         f"(e.g. build/book/course), got {str(built)!r}")
    for name in ("_figures", "_static"):
        if (built / name).is_dir():
            shutil.copytree(built / name, source / name, dirs_exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ppedu.instructor.book.build", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="course-work/book", help="where the HTML goes")
    ap.add_argument("--force", action="store_true", help="rebuild even when the book is up to date")
    ap.add_argument("--strict", action="store_true", help="fail on any Sphinx warning")
    ap.add_argument("--lang", default="en", help="the book's language: en (course/) or zh (course/zh/)")
    ap.add_argument("--figures-from", help="a built course folder whose _figures/ to reuse")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if not args.force and up_to_date(out):
        print(f"==> the book in {out}/ is up to date (--force rebuilds it)")
        return 0
    try:
        build_book(out, strict=args.strict, lang=args.lang, figures_from=args.figures_from)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"==> the book is in {out}/ (open {out}/index.html; in JupyterLab: the Reading links)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
