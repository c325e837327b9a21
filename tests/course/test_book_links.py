"""The book one click from every notebook (issue 23), checked without a build: each notebook's
first cell links its chapter's built page, `make course` builds and serves that page, and the
book reads offline. tests/course/test_browser.py clicks one such link in chromium with the network off."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from ppedu.errors import UsageError
from ppedu.instructor.book.build import reading_link, up_to_date

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_reading_line_links_the_chapter_page(path: Path) -> None:
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown"
    chapter = f"course/{path.stem}.md"
    assert (ROOT / chapter).is_file(), f"{path.name} has no chapter {chapter}"
    assert f"[`{chapter}`]({reading_link(chapter)})" in first.source, first.source[:400]
    toc = (ROOT / "course" / "_toc.yml").read_text()
    assert re.search(rf"file:\s*{path.stem}\b", toc), f"{chapter} is not in the book's toc"
    for target in re.findall(r"\]\((/ppedu-book/[^)]+)\)", first.source):
        page = Path(target).stem   # every link in the cell names a page of the book
        assert (ROOT / "course" / f"{page}.md").is_file(), target


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_chinese_notebook_links_the_same_pages(path: Path) -> None:
    """The Chinese notebook's first cell (its translation unit) links the same built pages: the
    links are the book server's (``/ppedu-book/``, served by ``make course-zh``), not files."""
    from ppedu.i18n import notebooks
    english = nbformat.read(path, as_version=4)
    chinese = notebooks.translate(english, notebooks.read_units(notebooks.translation_file(path)))
    assert _server_links(chinese.cells[0].source) == _server_links(english.cells[0].source), \
        chinese.cells[0].source[:400]


def _server_links(markdown: str) -> list[str]:
    return re.findall(r"\]\((/[^)]*)\)", markdown)


def test_reading_link_refuses_what_is_not_a_page() -> None:
    with pytest.raises(UsageError, match="chapter_md"):
        reading_link("course/02_bubbles.ipynb")


def test_make_course_builds_and_serves_the_book() -> None:
    make = (ROOT / "Makefile").read_text()
    recipe = make.split("\ncourse:", 1)[1].split("\n\n", 1)[0]
    build = "ppedu.instructor.book.build --out $(WORK)/book"
    assert build in recipe and recipe.index(build) < recipe.index("jupyter lab"), recipe
    assert build in make.split("\nbook:", 1)[1].split("\n\n", 1)[0]
    flags = re.search(r"^LAB_FLAGS := (.*)$", make, re.M).group(1)
    assert "jpserver_extensions=ppedu.instructor.book.server=True" in flags
    assert "make book" in (ROOT / "README.md").read_text()


def test_the_book_builds_and_reads_offline_with_the_lab_extras() -> None:
    tomllib = pytest.importorskip("tomllib")   # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lab = " ".join(project["optional-dependencies"]["lab"])
    assert "jupyter-book" in lab and "sphinx-mathjax-offline" in lab
    assert isinstance(project["license"], str), "SPDX string: the table form is deprecated"
    config = (ROOT / "course" / "_config.yml").read_text()
    assert re.search(r"extra_extensions:\s*\n\s*-\s*sphinx-mathjax-offline", config)


def test_setup_turns_the_news_popup_off() -> None:
    overrides = json.loads((ROOT / "scripts" / "jupyterlab_overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "scripts/jupyterlab_overrides.json" in setup and "share/jupyter/lab/settings" in setup


def test_a_book_older_than_its_sources_is_rebuilt(tmp_path: Path) -> None:
    course = tmp_path / "course"
    course.mkdir()
    (course / "intro.md").write_text("# intro")
    out = tmp_path / "book"
    assert not up_to_date(out, course)             # nothing built yet
    out.mkdir()
    (out / "index.html").write_text("<html></html>")
    assert up_to_date(out, course)
    import os
    later = (out / "index.html").stat().st_mtime + 10
    os.utime(course / "intro.md", (later, later))   # a page edited after the build
    assert not up_to_date(out, course)
