"""The Chinese edition never falls behind the English source: stale units are named, the Chinese
notebooks are the English code with other Markdown, every message has a translation and a
missing one falls back to English, never to an empty string."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ppedu.errors import UsageError
from ppedu.i18n import book, catalog, messages, notebooks

ROOT = Path(__file__).resolve().parents[2]
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
    monkeypatch.setattr(catalog, "_chosen", None)
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
    monkeypatch.setattr(catalog, "_chosen", "zh")
    assert messages._("a sentence nobody translated") == "a sentence nobody translated"


def _po_entries() -> dict[str, str]:
    from babel.messages.pofile import read_po
    with (messages.LOCALE_DIR / "zh" / "LC_MESSAGES" / "ppedu.po").open("rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


def _message_ids_in_code() -> dict[str, str]:
    """Every ``_("...")`` and ``N_("...")`` id in ppedu/ -> its first place."""
    from ppedu.i18n.extract import message_ids
    return {msgid: places[0] for msgid, places in message_ids().items()}


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
    monkeypatch.setattr(catalog, "_chosen", "zh")
    for msgid, text in entries.items():
        assert messages._(msgid) == text


def test_generated_numbers_in_translations_are_the_code_s(tmp_path: Path):
    """Computed blocks are shared, not copied: a translation carries the same markers and
    ``python -m ppedu.instructor.book.tables course/zh/notebooks`` regenerates them."""
    from ppedu.instructor.book import tables as book_tables
    found = [p for p in sorted(notebooks.TRANSLATIONS.glob("*.md")) if book_tables.file_blocks(p)]
    assert found, "no translation carries a computed block"
    for path in found:
        copy = tmp_path / path.name
        shutil.copy(path, copy)
        assert not book_tables.rewrite_file(copy), \
            f"{path.name}: a computed block differs from the code (python -m ppedu.instructor.book.tables course/zh/notebooks)"


def test_the_chinese_student_copy_hides_the_same_solutions(tmp_path: Path):
    """`make course-zh` strips the Chinese notebooks like the English ones: same stubs, same locks."""
    from ppedu.instructor.student_copy import make_student_copy
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
    from ppedu.instructor.book import tables as book_tables

    def calls(path: Path) -> list[str]:
        return [re.sub(r', (sep|last|lang)="[^"]*"', "", b.call) for b in book_tables.file_blocks(path)]
    for page in BOOK_PAGES:
        zh = book.CHINESE_BOOK / page.name
        assert calls(zh) == calls(page), \
            f"course/zh/{page.name}: its computed blocks differ from course/{page.name}'s"
        copy = tmp_path / page.name
        shutil.copy(zh, copy)
        assert not book_tables.rewrite_file(copy), \
            f"course/zh/{page.name}: a computed block differs from the code (python -m ppedu.instructor.book.tables course/zh)"


def test_every_figure_caption_has_a_current_chinese_caption(tmp_path: Path):
    from ppedu.instructor.book.figures import FIGURES
    english = {f.name: f.caption for f in FIGURES}
    found = book.caption_problems(english)
    assert not found, "\n".join(found)
    first = FIGURES[0]
    assert book.caption_problems({**english, first.name: first.caption + " More."}) == [
        f"{book.CAPTIONS.name}: figure {first.name}: stale, the English caption changed "
        f"(stamp {notebooks.english_hash(first.caption)}, English now {notebooks.english_hash(first.caption + ' More.')})"]


def test_the_chinese_tree_replaces_every_page_and_the_language(tmp_path: Path):
    """What `python -m ppedu.instructor.book.build --lang zh` builds, without building it: a copy of course/
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
    from ppedu.instructor.book.figures import FIGURES, figure_html
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
    from ppedu.instructor.book import build as book_command
    assert book_command.main(["--lang", "fr", "--out", str(tmp_path / "html"), "--force"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lang" in err and "fr" in err and "zh" in err, err
    assert not (tmp_path / "html").exists()


# ---- ppedu's own messages in Chinese: plots, widgets, CLI, feedback ---------------------------------

def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in str(text))


@pytest.fixture
def zh(monkeypatch):
    """This process speaks Chinese (set_language also exports PPEDU_LANG for spawned processes)."""
    monkeypatch.setenv("PPEDU_LANG", "zh")
    monkeypatch.setattr(catalog, "_chosen", "zh")


def test_every_translation_keeps_the_placeholders_of_its_message():
    from ppedu.i18n.extract import placeholders
    wrong = [f"{msgid!r}: {placeholders(msgid)} != {placeholders(text)} in {text!r}"
             for msgid, text in _po_entries().items() if text and placeholders(msgid) != placeholders(text)]
    assert not wrong, "translations that change a message's placeholders:\n" + "\n".join(wrong)


def test_a_translation_that_drops_a_placeholder_is_caught():
    from ppedu.i18n.extract import placeholders
    assert placeholders("{name} must be in {range} (got {value})") != placeholders("{name} 必须在 {range} 之内")
    assert placeholders("bubble {x:.3f}") != placeholders("气泡 {x:.2f}")   # the number's format is kept too
    assert placeholders("invalid %(type)s value: %(value)r") == placeholders("无效的 %(type)s 值：%(value)r")


def test_the_extracted_ids_are_the_catalog_s(tmp_path: Path):
    """`python -m ppedu.i18n.extract` adds a new message with an empty translation (so the test
    above names it) and drops a message the code no longer has."""
    from ppedu.i18n.extract import merge
    po = tmp_path / "ppedu.po"
    shutil.copy(messages.LOCALE_DIR / "zh" / "LC_MESSAGES" / "ppedu.po", po)
    ids = _message_ids_in_code()
    gone = next(iter(ids))
    new = {k: [v] for k, v in ids.items() if k != gone} | {"a brand new message": ["ppedu/x.py:1"]}
    assert merge(po, new) == (1, 1)
    from babel.messages.pofile import read_po
    with po.open("rb") as f:
        entries = {m.id: m.string for m in read_po(f) if m.id}
    assert entries["a brand new message"] == "" and gone not in entries


def test_usage_errors_come_out_chinese_with_the_same_numbers(zh):
    from ppedu.errors import check_choice, check_int
    with pytest.raises(UsageError) as exc:
        check_int("p", 0, 1, 8)
    assert str(exc.value) == "p 必须是 1..8 范围内的整数（收到 0）"
    with pytest.raises(UsageError, match=r"schedule 必须是以下之一：gpipe, 1f1b（收到 'zb9'）"):
        check_choice("schedule", "zb9", ["gpipe", "1f1b"])


def test_a_plot_comes_out_chinese(zh):
    from ppedu.notebook.plots import training as plots
    from ppedu.schedules import build_schedule
    from ppedu.schedules.simulator import simulate
    fig = plots.gantt(simulate(build_schedule("1f1b", 2, 4)).timeline, unit="units")
    assert fig.layout.title.text == "流水线时间线"
    assert fig.layout.xaxis.title.text == "时间步（以一次前向为单位，t_f = t_b = 1）"
    assert {t.name for t in fig.data} == {"F 前向", "B 反向"}
    assert "Noto Sans CJK SC" in fig.layout.font.family   # a CJK font where the browser has one


def test_a_widget_callback_comes_out_chinese(zh):
    from ppedu.notebook.widgets import plan as widgets_plan
    figures, text = widgets_plan.run_plan({"model": "gpt3-175b", "tp": 8, "p": 8, "m": 64})
    assert _chinese(text) and "GiB" in text, text
    assert all(_chinese(f.layout.title.text) for f in figures)
    assert all(_chinese(trace.name) for trace in figures[0].data)
    figures, text = widgets_plan.run_plan({"tp": 0})
    assert figures == [] and text.startswith("⚠ tp 必须是 1..") and text.endswith("范围内的整数（收到 0）"), text


def test_exercise_feedback_and_lab_diagnosis_come_out_chinese(zh):
    from ppedu.lab import diagnose
    from ppedu.lab.job import LabReport
    from ppedu.notebook.checks.schedules import check_bubble_formula
    with pytest.raises(AssertionError) as exc:
        check_bubble_formula(lambda p, m: (p - 1) / m, kind="gpipe")
    assert "期望值" in str(exc.value) and "Playbook 的比值" in str(exc.value), exc.value
    assert diagnose.run_failure([LabReport(rank=0, status="unanswered")], 5.0).startswith("你的 train_step 还没有写")


def test_exercise_feedback_stays_english_by_default(monkeypatch):
    monkeypatch.delenv("PPEDU_LANG", raising=False)
    monkeypatch.setattr(catalog, "_chosen", None)
    from ppedu.notebook.checks.schedules import check_bubble_formula
    with pytest.raises(AssertionError, match=r"For p=\d+, m=\d+ you return .*expected"):
        check_bubble_formula(lambda p, m: (p - 1) / m, kind="gpipe")


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**__import__("os").environ, "PPEDU_LANG": "zh", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "ppedu.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.ranks   # spawns processes (a CLI each)
def test_the_cli_speaks_chinese_under_ppedu_lang_zh():
    top = _cli("--help")
    assert top.returncode == 0 and "用法：ppedu" in top.stdout and "流水线并行，实测为准" in top.stdout
    assert "显示此帮助信息并退出" in top.stdout and "show this help" not in top.stdout
    sub = _cli("simulate", "--help")
    assert sub.returncode == 0 and "流水线阶段数 = GPU 数（1..64）" in sub.stdout
    bad = _cli("simulate", "-p", "0")
    assert bad.returncode == 2 and bad.stderr.strip() == "ppedu simulate：错误：p 必须是 1..64 范围内的整数（收到 0）"
    unknown = _cli("simulate", "--bogus")
    assert unknown.returncode == 2 and "无法识别的参数：--bogus" in unknown.stderr


def test_set_language_reaches_processes_started_later(monkeypatch):
    monkeypatch.setattr(catalog, "_chosen", None)
    monkeypatch.setenv("PPEDU_LANG", "en")
    messages.set_language("zh")
    assert __import__("os").environ["PPEDU_LANG"] == "zh" and messages.language() == "zh"


def _import_time_translations() -> list[str]:
    """``_()`` calls that run when a module is imported (module level, default arguments,
    decorators): they would freeze the language of the import, not follow set_language."""
    import ast
    found = []

    def visit(node, path: Path, deferred: bool) -> None:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_" and not deferred:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for early in [*node.args.defaults, *node.args.kw_defaults, *getattr(node, "decorator_list", [])]:
                if early is not None:
                    visit(early, path, deferred)
            for late in node.body if isinstance(node.body, list) else [node.body]:
                visit(late, path, True)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, path, deferred)

    for path in sorted((ROOT / "ppedu").rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8")), path, False)
    return found


def test_no_message_is_translated_at_import_time():
    """Module constants are marked with N_() and translated where shown, so a notebook that calls
    set_language("zh") after importing ppedu gets Chinese everywhere."""
    assert not _import_time_translations(), "use N_() here and _() where it is shown: " + \
        ", ".join(_import_time_translations())


def test_chinese_widget_labels_get_room_for_wide_characters():
    """ipywidgets cuts a label that does not fit with "…": a Chinese character is two columns."""
    from ppedu.notebook.widgets.panel import label_style
    width = lambda labels: int(label_style(labels)["description_width"][:-2])  # noqa: E731
    assert width(["链路延迟（ms）"]) > width(["link (ms)"])
    assert width(["微批次数"]) == width(["12345678"])


def _what_ppedu_writes_in_each_area() -> dict[str, str]:
    """One message from each part of ppedu a student meets (none starts ranks): the schedule
    validator and table reader, the lab's stage, a training note and a config error, the serving
    summary, a rank's ClusterError, the model's and TP's UsageErrors, a notebook's printed
    sentence, the Chinese student copy's answer stub."""
    from ppedu.errors import ClusterError
    from ppedu.instructor.student_copy import _markdown_stub
    from ppedu.lab import stage
    from ppedu.model.gpt import GPTConfig
    from ppedu.notebook.texts import text
    from ppedu.runtime import comm
    from ppedu.schedules import build_schedule
    from ppedu.schedules.tables import parse_markdown_table
    from ppedu.schedules.validator import validate
    from ppedu.serving.scheduler import BatchingConfig
    from ppedu.serving.simulator import simulate_serving
    from ppedu.serving.workload import make_workload
    from ppedu.tensor_parallel.jobs import check_setup
    from ppedu.training.config import TrainConfig
    from ppedu.training.engine import _notes

    def raised(fn, *args, **kwargs) -> str:
        with pytest.raises((UsageError, ClusterError)) as exc:
            fn(*args, **kwargs)
        return str(exc.value)
    stuck = build_schedule("1f1b", 2, 2)
    stuck.ranks[0] = stuck.ranks[0][::-1]
    note = stage._mixed_up(("recv_backward", 0, 0), ("backward", 0, 0), "recv_backward(0)")
    assert stage.is_passed_on(note)   # the grader still recognises the note in this language
    return {
        "validator": validate(stuck).message,
        "where it failed": stuck.where_it_failed(0, 1).splitlines()[2],
        "table": raised(parse_markdown_table, "| t | GPU0 |\n|---|---|\n| 0 | X7 |"),
        "lab note": note,
        "training note": _notes(TrainConfig(p=2, workload="model"), True, "saved_tensor_hooks")[0],
        "training config": raised(TrainConfig, workload="timed", recompute="full"),
        "serving": simulate_serving(make_workload(4, output_len=2, prompt_len=2, seed=0),
                                    BatchingConfig("continuous", 2, 1), 2).summary(),
        "cluster": str(comm._failed("recv header from rank 1 (tag 0)", 1, RuntimeError("Timed out"), 2.0)),
        "model": raised(GPTConfig, n_embd=10, n_head=3),
        "tensor parallel": raised(check_setup, GPTConfig(n_head=2), 3, 1, 4, 1),
        "notebook": text("00.warm", seconds=1.25, step_ms=80),
        "student copy": _markdown_stub(nbformat.v4.new_notebook(metadata={"ppedu_lang": "zh"}))[0],
    }


def test_every_area_writes_chinese_under_ppedu_lang_zh(zh):
    found = _what_ppedu_writes_in_each_area()
    english = [f"{area}: {message!r}" for area, message in found.items() if not _chinese(message)]
    assert not english, "still English under PPEDU_LANG=zh:\n" + "\n".join(english)
    assert "<-- 这里" in found["where it failed"] and "1.25 s" in found["notebook"]   # numbers unchanged


def test_every_area_stays_english_by_default(monkeypatch):
    monkeypatch.delenv("PPEDU_LANG", raising=False)
    monkeypatch.setattr(catalog, "_chosen", None)
    found = _what_ppedu_writes_in_each_area()
    chinese = [f"{area}: {message!r}" for area, message in found.items()
               if _chinese(message) and area != "student copy"]
    assert not chinese, "Chinese without PPEDU_LANG=zh:\n" + "\n".join(chinese)
    assert found["validator"].startswith("INVALID: Deadlock: GPU0 is stuck at B_1")
    assert found["notebook"] == "warm re-run: 1.25 s wall time for a 80 ms step"
    from ppedu.instructor.student_copy import _markdown_stub
    assert _markdown_stub(nbformat.v4.new_notebook()) == ("*Your answer here.*",)   # an English notebook's
