"""The Chinese edition never falls behind the English source: stale units are named, the Chinese
notebooks are the English code with other Markdown, every message has a translation and a
missing one falls back to English, never to an empty string."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import nbformat
import pytest

from ppedu.errors import UsageError
from ppedu.i18n import book, messages, notebooks

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = sorted(p for p in notebooks.ENGLISH.glob("*.ipynb") if notebooks.translation_file(p).exists())


@pytest.mark.parametrize("notebook", TRANSLATED, ids=lambda p: p.stem)
def test_every_markdown_cell_has_a_current_translation(notebook: Path):
    found = notebooks.problems(notebook)
    assert not found, ("translation out of date; update course/zh/notebooks/ "
                       "(python -m ppedu.i18n.notebooks status):\n" + "\n".join(found))


def test_a_changed_english_cell_is_named_stale(tmp_path: Path):
    src = TRANSLATED[0]
    nb = nbformat.read(src, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown")
    nb.cells[index].source += "\nOne more English sentence."
    changed = tmp_path / src.name
    nbformat.write(nb, changed)
    found = notebooks.problems(changed)
    assert len(found) == 1 and f"cell {index} ({nb.cells[index].id}): stale" in found[0], found


def test_an_unknown_unit_and_a_missing_one_are_named(tmp_path: Path):
    src = TRANSLATED[0]
    text = notebooks.translation_file(src).read_text(encoding="utf-8")
    first = next(iter(notebooks.read_units(notebooks.translation_file(src))))
    (tmp_path / f"{src.stem}.md").write_text(text.replace(f"cell {first} ", "cell deadbeef "), encoding="utf-8")
    found = notebooks.problems(src, tmp_path)
    assert any(f"({first}): not translated" in line for line in found), found
    assert any("unit deadbeef translates no Markdown cell" in line for line in found), found


def test_chinese_notebooks_are_the_english_code_with_other_markdown(tmp_path: Path):
    written = notebooks.build(tmp_path)
    assert [p.name for p in written] == sorted(p.name for p in notebooks.ENGLISH.glob("*.ipynb"))
    for path in written:
        zh, en = nbformat.read(path, as_version=4), nbformat.read(notebooks.ENGLISH / path.name, as_version=4)
        assert [c.id for c in zh.cells] == [c.id for c in en.cells]
        for a, b in zip(zh.cells, en.cells):
            assert a.cell_type == b.cell_type
            if a.cell_type == "code":
                assert (a.source, a.metadata) == (b.source, b.metadata), f"{path.name} cell {a.id}"
            assert a.source.strip(), f"{path.name} cell {a.id} is empty"
    zh = nbformat.read(tmp_path / TRANSLATED[0].name, as_version=4)
    en = nbformat.read(TRANSLATED[0], as_version=4)
    changed = [a for a, b in zip(zh.cells, en.cells) if a.cell_type == "markdown" and a.source != b.source]
    assert changed and all(any("\u4e00" <= ch <= "\u9fff" for ch in c.source) for c in changed)


def test_messages_follow_ppedu_lang_not_the_locale(monkeypatch):
    monkeypatch.setattr(messages, "_chosen", None)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    monkeypatch.delenv("PPEDU_LANG", raising=False)
    assert messages.language() == "en"
    monkeypatch.setenv("PPEDU_LANG", "zh_CN")
    assert messages.language() == "zh"
    monkeypatch.setenv("PPEDU_LANG", "fr")
    assert messages.language() == "en"


def test_set_language_rejects_unknown_languages_in_one_line():
    with pytest.raises(UsageError, match=r"language must be one of en, zh \(got 'fr'\)"):
        messages.set_language("fr")


def test_a_message_without_translation_falls_back_to_english(monkeypatch):
    monkeypatch.setattr(messages, "_chosen", "zh")
    assert messages._("a sentence nobody translated") == "a sentence nobody translated"


def _po_entries() -> dict[str, str]:
    from babel.messages.pofile import read_po
    with (messages.LOCALE_DIR / "zh" / "LC_MESSAGES" / "ppedu.po").open("rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


def _message_ids_in_code() -> dict[str, str]:
    found = {}
    for path in sorted((ROOT / "ppedu").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found[node.args[0].value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def test_every_message_in_the_code_has_a_chinese_translation():
    entries, used = _po_entries(), _message_ids_in_code()
    missing = [f"{where}: {msg!r}" for msg, where in used.items() if not entries.get(msg)]
    assert not missing, "messages without a Chinese translation in ppedu.po:\n" + "\n".join(missing)
    unused = sorted(set(entries) - set(used))
    assert not unused, f"ppedu.po translates messages the code no longer has: {unused}"


def test_the_compiled_catalog_says_what_the_po_file_says():
    import gettext
    mo = messages.LOCALE_DIR / "zh" / "LC_MESSAGES" / "ppedu.mo"
    assert mo.exists(), "no compiled catalog: run python -m ppedu.i18n.messages"
    with mo.open("rb") as f:
        compiled = {k: v for k, v in gettext.GNUTranslations(f)._catalog.items() if k}
    assert compiled == {k: v for k, v in _po_entries().items() if v}, \
        "ppedu.mo is older than ppedu.po: run python -m ppedu.i18n.messages"


def test_translated_messages_reach_the_student(monkeypatch):
    entries = _po_entries()
    monkeypatch.setattr(messages, "_chosen", "zh")
    for msgid, text in entries.items():
        assert messages._(msgid) == text


def test_generated_numbers_in_translations_are_the_code_s(tmp_path: Path):
    """Computed blocks are shared, not copied: a translation carries the same markers and
    ``python -m ppedu.notebook.book_tables course/zh/notebooks`` regenerates them."""
    from ppedu.notebook import book_tables
    found = [p for p in sorted(notebooks.TRANSLATIONS.glob("*.md")) if book_tables.file_blocks(p)]
    assert found, "no translation carries a computed block"
    for path in found:
        copy = tmp_path / path.name
        shutil.copy(path, copy)
        assert not book_tables.rewrite_file(copy), \
            f"{path.name}: a computed block differs from the code (python -m ppedu.notebook.book_tables course/zh/notebooks)"


def test_the_chinese_student_copy_hides_the_same_solutions(tmp_path: Path):
    """`make course-zh` strips the Chinese notebooks like the English ones: same stubs, same locks."""
    from ppedu.notebook.student_copy import make_student_copy
    notebooks.build(tmp_path / "zh")
    zh = {p.name: n for p, n in make_student_copy(tmp_path / "zh", tmp_path / "zh-student")}
    en = {p.name: n for p, n in make_student_copy(notebooks.ENGLISH, tmp_path / "en-student")}
    assert zh == en and sum(zh.values()) > 0
    for name in zh:
        a = nbformat.read(tmp_path / "zh-student" / name, as_version=4)
        b = nbformat.read(tmp_path / "en-student" / name, as_version=4)
        assert [(c.source, c.metadata) for c in a.cells if c.cell_type == "code"] == \
               [(c.source, c.metadata) for c in b.cells if c.cell_type == "code"], name
        assert not any("SOLUTION" in c.source for c in a.cells), name


BOOK_PAGES = sorted(book.ENGLISH_BOOK.glob("*.md"))   # every page: a missing one fails, naming it


@pytest.mark.parametrize("page", BOOK_PAGES, ids=lambda p: p.stem)
def test_every_translated_book_page_follows_its_english_sections(page: Path):
    found = book.problems(page)
    assert not found, "Chinese page out of date (course/zh/):\n" + "\n".join(found)


def test_a_changed_english_section_is_named_stale(tmp_path: Path):
    page = BOOK_PAGES[0]
    changed = tmp_path / page.name
    changed.write_text(page.read_text(encoding="utf-8") + "\nOne more English sentence.\n", encoding="utf-8")
    found = book.problems(changed, book.CHINESE_BOOK / page.name)
    assert len(found) == 1 and ": stale" in found[0], found


def test_chinese_book_pages_compute_what_the_english_ones_compute(tmp_path: Path):
    """A Chinese page carries the same computed blocks as its English page (same generator, same
    arguments, in the same order; only the words ``sep=``/``last=`` of a list may differ), and
    their bodies are what the code makes now."""
    import re
    from ppedu.notebook import book_tables

    def calls(path: Path) -> list[str]:
        return [re.sub(r', (sep|last)="[^"]*"', "", b.call) for b in book_tables.file_blocks(path)]
    for page in BOOK_PAGES:
        zh = book.CHINESE_BOOK / page.name
        assert calls(zh) == calls(page), \
            f"course/zh/{page.name}: its computed blocks differ from course/{page.name}'s"
        copy = tmp_path / page.name
        shutil.copy(zh, copy)
        assert not book_tables.rewrite_file(copy), \
            f"course/zh/{page.name}: a computed block differs from the code (python -m ppedu.notebook.book_tables course/zh)"


def test_every_figure_caption_has_a_current_chinese_caption(tmp_path: Path):
    from ppedu.notebook.book_figures import FIGURES
    english = {f.name: f.caption for f in FIGURES}
    found = book.caption_problems(english)
    assert not found, "\n".join(found)
    first = FIGURES[0]
    assert book.caption_problems({**english, first.name: first.caption + " More."}) == [
        f"{book.CAPTIONS.name}: figure {first.name}: stale, the English caption changed "
        f"(stamp {notebooks.english_hash(first.caption)}, English now {notebooks.english_hash(first.caption + ' More.')})"]


def test_the_chinese_tree_replaces_every_page_and_the_language(tmp_path: Path):
    """What `python -m ppedu.notebook.book --lang zh` builds, without building it: a copy of course/
    whose every page is the Chinese one, with Chinese toc captions and Sphinx language zh_CN."""
    source = tmp_path / "course"
    shutil.copytree(book.ENGLISH_BOOK, source, ignore=shutil.ignore_patterns("_build", "_figures", "_static"))
    assert book.chinese_tree(source) == [], "pages without a Chinese version"
    for page in BOOK_PAGES:
        assert (source / page.name).read_text(encoding="utf-8") == \
               notebooks.join_cjk_lines((book.CHINESE_BOOK / page.name).read_text(encoding="utf-8"))
    config = (source / "_config.yml").read_text(encoding="utf-8")
    assert "language: zh_CN" in config and book.TITLE in config and book.FOOTER in config
    toc = (source / "_toc.yml").read_text(encoding="utf-8")
    assert all(f"caption: {zh}" in toc for zh in book.TOC_CAPTIONS.values()), toc


def test_figure_captions_become_chinese_and_keep_their_command(tmp_path: Path):
    from ppedu.notebook.book_figures import FIGURES, figure_html
    import plotly.graph_objects as go
    spec = FIGURES[1]
    (tmp_path / f"{spec.name}.html").write_text(figure_html(spec, go.Figure()), encoding="utf-8")
    assert book.translate_figures(tmp_path) == 1
    text = (tmp_path / f"{spec.name}.html").read_text(encoding="utf-8")
    zh = book.read_units(book.CAPTIONS)[spec.name].text
    assert zh in text and spec.caption not in text and "Measured by" not in text
    assert f"<code>{spec.command}</code>" in text


def test_wrapped_chinese_lines_are_joined_outside_code():
    """A soft line break between two Chinese characters renders as a space in a browser: the
    Chinese pages and notebooks join such lines, never in code, a heading, a table row or after
    a glossary term (which must stay a line of its own)."""
    text = ("一个\n  批次，\nstage 0\n必须 and\n中\n### 标题\n正文\n| 表 |\n行\n"
            "```text\n代\n码\n```\n```{glossary}\n术语\n  定义\n  续\n```\n后\n面")
    assert notebooks.join_cjk_lines(text) == (
        "一个批次，\nstage 0\n必须 and\n中\n### 标题\n正文\n| 表 |\n行\n"
        "```text\n代\n码\n```\n```{glossary}\n术语\n  定义续\n```\n后面")
    zh = notebooks.translate(nbformat.read(TRANSLATED[0], as_version=4),
                             notebooks.read_units(notebooks.translation_file(TRANSLATED[0])))
    joined = [c.source for c in zh.cells if c.cell_type == "markdown"]
    assert joined == [notebooks.join_cjk_lines(t) for t in joined], "the Chinese notebooks join them"


def test_the_book_command_rejects_an_unknown_language_in_one_line(tmp_path: Path, capsys):
    from ppedu.notebook import book as book_command
    assert book_command.main(["--lang", "fr", "--out", str(tmp_path / "html"), "--force"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lang" in err and "fr" in err and "zh" in err, err
    assert not (tmp_path / "html").exists()
