"""The course book (course/, Jupyter Book 1.x = Sphinx + MyST-NB) builds offline and says what it must.

The build runs with ``-W -n --keep-going``: any Sphinx warning (a broken ``{term}`` or ``{ref}``, a
malformed directive, a page missing from the toc) fails the test. Notebooks are not executed here
(``execute_notebooks: off``); nbval and papermill test them separately.

The book's figures are measured first: ``ppedu.instructor.book.figures`` runs the small training and
serving runs on warm local ranks (~30 s on 2 busy cores) and writes them into a copy of course/,
which is then built; the tests check that every figure, its plotly.js and its caption reach the HTML.
"""

from __future__ import annotations

import html as htmllib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "course"
PAGES = ["intro", "00_setup", "01_tp_vs_pp", "02_bubbles", "03_micro_batches", "04_1f1b",
         "05_continuous_batching", "06_build_your_pipeline", "source_errors", "glossary", "references",
         "instructor"]


def _jupyter_book() -> list[str]:
    """The jupyter-book executable `make book` uses (the venv's, else on PATH)."""
    from ppedu.errors import UsageError
    from ppedu.instructor.book.build import _jupyter_book as find
    try:
        return find()
    except UsageError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    """Build the book once into a temp dir; return the HTML folder."""
    from ppedu.instructor.book import figures as book_figures

    out = tmp_path_factory.mktemp("book")
    source = out / "course"
    shutil.copytree(COURSE, source, ignore=shutil.ignore_patterns("_build", "_figures", "_static"))
    book_figures.build(source)
    cmd = _jupyter_book() + ["build", str(source), "--path-output", str(out),
                             "-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=280, cwd=ROOT)
    log = proc.stdout + proc.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    assert proc.returncode == 0, "book build failed:\n" + "\n".join(warnings or log.splitlines()[-40:])
    return out / "_build" / "html"


def _text(html_dir: Path, page: str) -> str:
    """Visible text of a built page (tags stripped), for content assertions."""
    raw = (html_dir / f"{page}.html").read_text(encoding="utf-8")
    return htmllib.unescape(re.sub(r"<[^>]+>", "", raw))


@pytest.mark.ranks
@pytest.mark.timeout(300)
def test_every_figure_is_measured_and_shown(html: Path) -> None:
    """At least ten measured figures across the chapters, each with plotly.js and its command."""
    from ppedu.instructor.book.figures import FIGURES

    assert len(FIGURES) >= 10
    assert (html / "_static" / "plotly.min.js").is_file(), "plotly.js must ship with the book (offline)"
    for fig in FIGURES:
        raw = (html / f"{fig.page}.html").read_text(encoding="utf-8")
        assert f'id="figure-{fig.name}"' in raw, f"{fig.page}.html lacks figure {fig.name}"
        assert "plotly.min.js" in raw and "Plotly.newPlot" in raw, f"{fig.page}.html draws no plotly figure"
        assert htmllib.escape(fig.command) in raw, f"{fig.name}'s caption must name its command"
    chapters = {fig.page for fig in FIGURES}
    assert chapters >= {"01_tp_vs_pp", "02_bubbles", "03_micro_batches", "04_1f1b",
                        "05_continuous_batching"}, "every chapter shows a measured figure"


@pytest.mark.ranks
@pytest.mark.timeout(300)
def test_every_page_is_built(html: Path) -> None:
    missing = [p for p in PAGES if not (html / f"{p}.html").is_file()]
    assert not missing, f"pages missing from the HTML build: {missing}"
    assert (html / "index.html").is_file()


@pytest.mark.ranks
@pytest.mark.timeout(300)
def test_glossary_has_english_and_chinese_terms(html: Path) -> None:
    text = _text(html, "glossary")
    pairs = {"pipeline parallelism": "流水线并行", "tensor parallelism": "张量并行",
             "bubble": "气泡", "micro-batch": "微批次", "continuous batching": "连续批处理",
             "all-reduce": "全规约", "prefill": "预填充", "decode": "解码", "TTFT": "首字延迟",
             "throughput": "吞吐量", "KV cache": "KV 缓存", "activation": "激活值"}
    for en, zh in pairs.items():
        assert en in text and zh in text, f"glossary lacks {en!r} / {zh!r}"
    # a Sphinx glossary: every term is an anchor that {term} roles can link to
    raw = (html / "glossary.html").read_text(encoding="utf-8")
    assert raw.count('<dt id="term-') >= 30, "glossary should define at least 30 linkable terms"


@pytest.mark.ranks
@pytest.mark.timeout(300)
def test_chapters_link_to_glossary_terms(html: Path) -> None:
    raw = (html / "03_micro_batches.html").read_text(encoding="utf-8")
    assert 'href="glossary.html#term-' in raw, "chapter 3 should link terms to the glossary"


@pytest.mark.ranks
@pytest.mark.timeout(300)
def test_bubble_formulas_are_derived(html: Path) -> None:
    ch2 = _text(html, "02_bubbles")
    ch3 = _text(html, "03_micro_batches")
    ch4 = _text(html, "04_1f1b")
    assert r"\frac{p-1}{p}" in ch2, "chapter 2 must derive the naive bubble (p-1)/p"
    assert "p\\,(p-1)(t_f+t_b)" in ch2, "chapter 2 must give the total idle time p(p-1)(t_f+t_b)"
    assert r"\frac{p-1}{m+p-1}" in ch3, "chapter 3 must derive the GPipe bubble (p-1)/(m+p-1)"
    assert r"\frac{p-1}{m}" in ch3 and "Playbook" in ch3, "chapter 3 must name the Playbook ratio"
    assert r"\frac{p-1}{v\,m}" in ch4, "chapter 4 must give the interleaved ratio (p-1)/(v m)"
    assert r"\frac{p-1}{3m}" in ch4, "chapter 4 must give ZB-H1's (p-1)/(3m)"


@pytest.mark.ranks
@pytest.mark.timeout(300)
def test_myth_boxes_point_to_measurements(html: Path) -> None:
    ch2 = _text(html, "02_bubbles")
    ch5 = _text(html, "05_continuous_batching")
    assert "Myth vs measurement" in ch2 and "ppedu validate" in ch2
    assert "14" in ch2 and "t = 10" in ch2, "seed 002's t=10 vs the 14-unit minimum"
    for needle in ("2 ms", "same size", "dynamic batch", "ppedu serve-bench", "DeepSpeed"):
        assert needle in ch5, f"chapter 5's myth boxes should mention {needle!r}"
    assert ch5.count("Myth vs measurement") >= 3


@pytest.mark.ranks
@pytest.mark.timeout(300)
def test_references_and_instructor_guide(html: Path) -> None:
    refs = _text(html, "references")
    for arxiv in ("1811.06965", "1909.08053", "2104.04473", "1806.03377", "2006.09503",
                  "2401.10241", "2309.06180", "2308.16369"):
        assert arxiv in refs, f"references lack arXiv:{arxiv}"
    for name in ("Orca", "Sarathi-Serve", "DistServe", "Ultra-Scale Playbook"):
        assert name in refs
    guide = _text(html, "instructor")
    for needle in ("torchrun --nproc-per-node=4 -m ppedu.cli train", "--rdzv-endpoint",
                   "ppedu run-notebook notebooks/03_micro_batches.ipynb", "-p backend nccl", "NCCL"):
        assert needle in guide, f"instructor guide lacks {needle!r}"


@pytest.mark.ranks
@pytest.mark.timeout(300)
def test_source_documents_page_corrects_all_five(html: Path) -> None:
    """One page names every source document and what settles each correction, with working configs."""
    text = _text(html, "source_errors")
    for doc in ("000", "001", "002", "003", "004"):
        assert f"Source document {doc}" in text, f"the corrections page lacks source document {doc}"
    for needle in ("num_layers // self.pp_size", "ppedu validate example:seed002_1f1b", "t_b \\approx 2",
                   "partition_method", "get_pipeline_config", "gradient_accumulation_steps", "torchgpipe",
                   "Horovod", "All-Reduce", "ppedu simulate --schedule naive -p 3 -m 1"):
        assert needle in text, f"the corrections page lacks {needle!r}"
    for config in ("--pipeline-model-parallel-size 8", "PipelineModule(", "Schedule1F1B(",
                   "pipeline_parallel_degree = 8"):
        assert config in text, f"the corrections page lacks the working config {config!r}"
    intro = (html / "intro.html").read_text(encoding="utf-8")
    assert 'href="source_errors.html"' in intro, "the introduction should link the corrections page"


def test_toc_lists_only_existing_markdown_pages() -> None:
    """Cheap check without a build: every toc entry is a .md page in course/."""
    toc = (COURSE / "_toc.yml").read_text(encoding="utf-8")
    files = re.findall(r"file:\s*(\S+)", toc) + re.findall(r"^root:\s*(\S+)", toc, re.M)
    assert files, "no pages in _toc.yml"
    for name in files:
        assert (COURSE / f"{name}.md").is_file(), f"_toc.yml lists {name}, but course/{name}.md is missing"
    config = (COURSE / "_config.yml").read_text(encoding="utf-8")
    assert re.search(r'execute_notebooks:\s*"?off"?', config), "the book must not execute notebooks"


@pytest.mark.ranks
@pytest.mark.timeout(300)
def test_mathjax_ships_with_the_book(html: Path) -> None:
    """Formulas render offline: every page loads MathJax from the book's _static/, no CDN
    (tests/course/test_browser.py counts the typeset formulas with the network off)."""
    for page in PAGES:   # Sphinx loads MathJax on the pages that have formulas
        raw = (html / f"{page}.html").read_text(encoding="utf-8")
        scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', raw, re.I)
        assert scripts or page not in ("02_bubbles", "03_micro_batches", "04_1f1b"), page
        if not scripts:
            continue
        assert all(not s.startswith(("http:", "https:", "//")) for s in scripts), (page, scripts)
        assert (html / scripts[0].split("?")[0]).is_file(), f"{page}.html: {scripts[0]} is not in the book"


# ---- the Chinese book (course/zh/): the same build, the same measured figures ----------------------

@pytest.fixture(scope="module")
def html_zh(html: Path, tmp_path_factory) -> Path:
    """The Chinese book (`python -m ppedu.instructor.book.build --lang zh`), built with -W -n from the
    figures the English build above measured (shared, not measured twice)."""
    from ppedu.instructor.book.build import build_book

    out = tmp_path_factory.mktemp("book-zh")
    return build_book(out / "html", work=out / "work", lang="zh", strict=True,
                      figures_from=html.parents[1] / "course")


def _figure(raw: str, name: str) -> str:
    """A figure's plot (div and script), without its caption."""
    start = raw.index(f'id="figure-{name}"')
    return raw[start:raw.index("<figcaption>", start)]


@pytest.mark.ranks
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_chinese_book_builds_every_page_in_chinese(html_zh: Path) -> None:
    from ppedu.i18n import book
    for page in PAGES:
        raw = (html_zh / f"{page}.html").read_text(encoding="utf-8")
        assert 'lang="zh-CN"' in raw, f"{page}.html is not marked Chinese"
        title = (book.CHINESE_BOOK / f"{page}.md").read_text(encoding="utf-8").split("\n# ", 1)[1].split("\n")[0]
        text = _text(html_zh, page)
        assert title in text, f"{page}.html lacks its Chinese title {title!r}"
        cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
        assert cjk > 300, f"{page}.html has only {cjk} Chinese characters: an English page?"
    assert "入门" in (html_zh / "intro.html").read_text(encoding="utf-8"), "toc captions in Chinese"


@pytest.mark.ranks
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_chinese_book_shows_the_english_book_s_measured_figures(html: Path, html_zh: Path) -> None:
    """Every figure is the same measurement as in the English book (byte for byte), with the
    Chinese caption of course/zh/figure_captions.units and the same command."""
    from ppedu.i18n import book
    from ppedu.instructor.book.figures import FIGURES

    captions = book.read_units(book.CAPTIONS)
    assert (html_zh / "_static" / "plotly.min.js").is_file()
    for fig in FIGURES:
        en = (html / f"{fig.page}.html").read_text(encoding="utf-8")
        zh = (html_zh / f"{fig.page}.html").read_text(encoding="utf-8")
        assert _figure(zh, fig.name) == _figure(en, fig.name), f"{fig.name}: not the English book's measurement"
        assert htmllib.escape(captions[fig.name].text) in zh, f"{fig.name}: no Chinese caption"
        assert htmllib.escape(fig.command) in zh and htmllib.escape(fig.caption) not in zh, fig.name


@pytest.mark.ranks
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_chinese_book_keeps_terms_formulas_and_offline_maths(html_zh: Path) -> None:
    raw = (html_zh / "glossary.html").read_text(encoding="utf-8")
    assert raw.count('<dt id="term-') >= 60, "each glossary entry: its Chinese and its English term"
    for zh in ("流水线并行", "气泡", "微批次", "连续批处理", "在途批次", "首字延迟", "有效吞吐量"):
        assert zh in raw, f"Chinese glossary lacks {zh}"
    assert 'href="glossary.html#term-' in (html_zh / "03_micro_batches.html").read_text(encoding="utf-8")
    ch3, ch4 = _text(html_zh, "03_micro_batches"), _text(html_zh, "04_1f1b")
    assert r"\frac{p-1}{m+p-1}" in ch3 and r"\frac{p-1}{3m}" in ch4, "formulas are the English ones"
    assert "ppedu validate example:seed002_1f1b" in _text(html_zh, "02_bubbles")
    errors = _text(html_zh, "source_errors")
    for quote in ("M=32时仅≈11%", "如vLLM每2ms调度一次", "交错式1F1B", "梯度聚合可以使用All-Reduce操作"):
        assert quote in errors, f"the corrections page should quote the source documents: {quote!r}"
    ch3_raw = (html_zh / "03_micro_batches.html").read_text(encoding="utf-8")
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', ch3_raw, re.I)
    assert scripts and not scripts[0].startswith(("http", "//")), scripts
    assert (html_zh / scripts[0].split("?")[0]).is_file()
