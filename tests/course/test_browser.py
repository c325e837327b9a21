"""Chapter 3 in a real browser: JupyterLab (headless) driven by Playwright and Debian's chromium.

The test starts JupyterLab on a free port with a token and a private config/settings/kernelspec
(so nothing on the machine changes what the browser sees), opens a copy of
``notebooks/03_micro_batches.ipynb``, runs all cells from the Run menu, waits for the kernel to go
idle, changes m in the training panel, presses Run, and checks that the summary line (the measured
and theoretical bubble) and the plotly Gantt chart changed. It saves a screenshot under the test's
tmp dir and to ``build/screenshots/03_micro_batches.png``.

Shutting down the kernel must also end the warm cluster's worker processes (ppedu.runtime.cluster): the
test records the kernel's child processes while they run and checks that none survives.

Chromium comes from ``scripts/setup_browser.sh`` (apt, run by ``make test``); the test runs that
script itself if chromium is missing, and skips only when it still is not there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = "03_micro_batches.ipynb"
SCREENSHOT = ROOT / "build" / "screenshots" / "03_micro_batches.png"
VENV_PY = ROOT / ".venv" / "bin" / "python"
PY = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))

pytestmark = [pytest.mark.ranks, pytest.mark.browser, pytest.mark.timeout(480)]


# ---- chromium ------------------------------------------------------------------------------------

def _chromium() -> str:
    """/usr/bin/chromium, installed by scripts/setup_browser.sh if it is missing; else skip."""
    if not CHROMIUM.exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "setup_browser.sh")], check=False,
                       timeout=600)
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium and scripts/setup_browser.sh could not install it "
                    "(needs root and apt: `apt-get install chromium`)")
    pytest.importorskip("playwright.sync_api", reason="playwright is part of the test extras")
    return str(CHROMIUM)


# ---- JupyterLab ----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """The processes among ``procs`` that still run (zombies count as gone)."""
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


class Lab:
    """A JupyterLab server in a temp dir: its own config, settings, workspace and kernelspec."""

    def __init__(self, tmp: Path, notebooks: Path = ROOT / "notebooks"):
        self.token = uuid.uuid4().hex
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = tmp / "notebooks"
        shutil.copytree(notebooks, self.root,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        home = tmp / "jupyter"
        env = dict(os.environ)
        env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
                   JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"),
                   JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
        env.pop("JUPYTER_PATH", None)
        env["JUPYTER_PREFER_ENV_PATH"] = "0"  # in a venv jupyter would prefer sys.prefix's specs
        # the kernel is this venv's python with ppedu importable (the user data dir wins over
        # any other "python3" kernelspec on the machine)
        _write_json(home / "data" / "kernels" / "python3" / "kernel.json", {
            "argv": [PY, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ppedu)", "language": "python",
            "metadata": {"supported_encryption": ["curve"]},   # as `ipykernel install` writes
            "env": {"PYTHONPATH": env["PYTHONPATH"]}})
        # every cell attached to the DOM
        settings = home / "settings" / "@jupyterlab"
        _write_json(settings / "notebook-extension" / "tracker.jupyterlab-settings",
                    {"windowingMode": "none"})
        # no news/update toasts: the overrides scripts/setup.sh installs into the venv's app
        # settings, here in a private app settings dir (tested: test_student_path)
        app_settings = home / "app-settings"
        (app_settings / "overrides.d").mkdir(parents=True)
        shutil.copy(ROOT / "scripts" / "jupyterlab_overrides.json",
                    app_settings / "overrides.d" / "ppedu.json")
        self.log_path = tmp / "jupyterlab.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PY, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root}", "--LabApp.check_for_updates_class="
             "jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None",
             f"--LabApp.app_settings_dir={app_settings}",
             # as `make course` (Makefile LAB_FLAGS): the book at /ppedu-book/ (root_dir/book),
             # kernel messages encrypted (no "running over TCP without encryption" warnings)
             "--ServerApp.jpserver_extensions=ppedu.instructor.book.server=True",
             "--KernelManager.transport_encryption=auto"]
            + (["--allow-root"] if os.geteuid() == 0 else []),
            cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.server = psutil.Process(self.proc.pid)
        self.seen: dict[int, psutil.Process] = {}  # every descendant seen, to check they are gone
        self.stopped = False
        self._wait_ready(90)

    def api(self, path: str, method: str = "GET", timeout: float = 10):
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.proc.returncode}):\n{self.log()}")
            try:
                self.api("/api/status", timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kernels(self) -> list[dict]:
        return self.api("/api/kernels")

    def descendants(self) -> list[psutil.Process]:
        """The server's process tree now (kernels, their workers); remembered for stop()."""
        try:
            procs = self.server.children(recursive=True)
        except psutil.NoSuchProcess:
            procs = []
        for p in procs:
            self.seen.setdefault(p.pid, p)
        return procs

    def kernel_processes(self) -> list[psutil.Process]:
        out = []
        for p in self.descendants():
            try:
                if "ipykernel_launcher" in " ".join(p.cmdline()):
                    out.append(p)
            except psutil.NoSuchProcess:
                pass
        return out

    def stop(self) -> list[psutil.Process]:
        """Shut the kernels down through the API, then the server; kill what is left after a
        grace period. Returns the processes that had to be killed (empty when all went politely)."""
        if self.stopped:
            return []
        self.stopped = True
        self.descendants()
        try:
            for k in self.kernels():
                self.api(f"/api/kernels/{k['id']}", method="DELETE", timeout=30)
        except OSError:
            pass
        try:
            self.api("/api/shutdown", method="POST", timeout=10)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        finally:
            self._log.close()
        # workers notice a dead parent within 0.2 s; give everything a few seconds
        tracked = list(self.seen.values())
        _, left = psutil.wait_procs(_alive(tracked), timeout=10)
        left = _alive(left)
        for p in left:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(left, timeout=5)
        return left


@pytest.fixture
def chromium() -> str:
    return _chromium()


@pytest.fixture(scope="module")
def figures(tmp_path_factory) -> Path:
    """The book's measured figures, once for both books of this module (``figures_from``)."""
    from ppedu.instructor.book import figures as book_figures
    folder = tmp_path_factory.mktemp("figures")
    book_figures.build(folder)
    return folder


@pytest.fixture
def lab(chromium, tmp_path):  # chromium first: skip before starting a server for nothing
    server = Lab(tmp_path)
    try:
        yield server
    finally:
        server.stop()  # no-op when the test already stopped it; kills stragglers otherwise


# ---- the test ------------------------------------------------------------------------------------

def _wait(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _summary(text: str) -> tuple[int, int, float, float]:
    """(p, m, measured bubble, theory bubble) from the panel's summary line, e.g.
    ``gpipe p=4 m=8 (timed): measured bubble 0.297 · theory 0.273 · simulated ...``."""
    m = re.search(r"\bp=(\d+) m=(\d+)\b.*?measured bubble ([\d.]+) · theory ([\d.]+)", text)
    assert m, f"no p, m and bubble numbers in the summary line: {text!r}"
    return int(m.group(1)), int(m.group(2)), float(m.group(3)), float(m.group(4))


@contextlib.contextmanager
def _offline_page(chromium: str, lab):
    """A headless Chromium page with the network off: only this JupyterLab answers (the book's
    MathJax and fonts must be local). The browser closes however the block ends."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", lambda route: route.continue_()
                      if route.request.url.startswith(lab.url) else route.abort())
        try:
            yield context.new_page()
        finally:
            browser.close()


def test_micro_batches_notebook_in_jupyterlab(chromium, lab, figures, tmp_path):
    from playwright.sync_api import expect

    from ppedu.instructor.book.build import build_book

    shot = tmp_path / "03_micro_batches.png"
    t0 = time.monotonic()
    build_book(lab.root / "book", work=tmp_path / "book-build", figures_from=figures)  # as `make course`
    with _offline_page(chromium, lab) as page:
        try:
            _drive(page, lab, expect, shot)
        except BaseException:
            failed = tmp_path / "03_micro_batches-failure.png"
            try:
                page.screenshot(path=str(failed))
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(failed, SCREENSHOT.with_name(failed.name))
            except Exception:
                pass
            print(f"JupyterLab log (tail):\n{lab.log()}")
            raise

    # ---- the kernel and the warm cluster it started must go away with it ----
    kernels = lab.kernel_processes()
    assert len(kernels) == 1, f"expected one kernel process, found {kernels}"
    assert kernels[0].cmdline()[0] == PY, kernels[0].cmdline()  # our kernelspec: the venv
    workers = kernels[0].children(recursive=True)  # the ranks and multiprocessing's tracker
    assert len(workers) >= 4, f"expected the p=4 warm cluster under the kernel, found {workers}"
    killed = lab.stop()
    assert not _alive(kernels + workers), "kernel or worker processes survived the shutdown"
    assert not killed, f"processes had to be killed after the kernel shut down: {killed}"
    print(f"browser test: {time.monotonic() - t0:.1f} s in the browser; screenshot {SCREENSHOT}")


def _drive(page, lab: Lab, expect, shot: Path) -> None:
    page.set_default_timeout(30_000)
    page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(notebook.locator(".jp-Notebook")).to_be_visible(timeout=60_000)

    def kernel_idle() -> bool:
        ks = lab.kernels()
        ui = notebook.locator(".jp-Notebook-ExecutionIndicator").get_attribute("data-status")
        return bool(ks) and all(k["execution_state"] == "idle" for k in ks) and ui == "idle"

    _wait(kernel_idle, 60, "the kernel to start")

    # Run > Run All Cells
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    prompts = notebook.locator(".jp-CodeCell .jp-InputPrompt")
    n_code = prompts.count()
    assert n_code >= 10, f"expected the chapter's code cells, found {n_code}"

    errors = notebook.locator(".jp-OutputArea-output").filter(has_text="Traceback (most recent")

    def all_ran() -> bool:
        texts = [t.strip() for t in prompts.all_inner_texts()]
        if all(re.fullmatch(r"\[\d+\]:", t) for t in texts) and kernel_idle():
            return True
        if errors.count() and not any("*" in t for t in texts) and kernel_idle():
            raise AssertionError("Run All Cells stopped at a failing cell:\n"
                                 + errors.first.inner_text()[-2000:])
        return False

    _wait(all_ran, 150, "all cells to run and the kernel to go idle", interval=1.0)
    assert errors.count() == 0, errors.first.inner_text()

    # the training panel: controls, Run button, summary line, figures
    panel = notebook.locator(".ppedu-training-panel")
    expect(panel).to_have_count(1)
    summary = panel.locator(".ppedu-summary")
    figures = panel.locator(".ppedu-figures .js-plotly-plot")
    expect(summary).to_contain_text("measured bubble", timeout=30_000)  # panel.run() in the cell
    expect(figures.first).to_be_visible()
    gantt = figures.first
    before_text = summary.inner_text()
    before_title = gantt.locator(".gtitle").text_content()
    before_svg = gantt.locator("svg.main-svg").first.evaluate("e => e.outerHTML")
    before_bars = gantt.locator(".barlayer .point").count()
    p, m0, measured0, theory0 = _summary(before_text)
    assert f"m={m0}:" in before_title, (before_text, before_title)

    # change m: type into the slider's editable readout, then press Run
    m_slider = panel.locator(".widget-slider").filter(
        has=page.locator(".widget-label", has_text="m (micro-batches)"))
    expect(m_slider).to_have_count(1)
    readout = m_slider.locator(".widget-readout")
    assert readout.inner_text().strip() == str(m0)
    new_m = m0 // 2 if m0 >= 2 else 2  # half the micro-batches: a bigger bubble, fewer bars
    readout.scroll_into_view_if_needed()
    readout.fill(str(new_m))
    readout.press("Enter")
    expect(readout).to_have_text(str(new_m))
    panel.locator("button.ppedu-run").click()

    # the summary line and the Gantt follow (on the cluster the notebook left warm)
    expect(summary).to_contain_text(f"m={new_m} ", timeout=120_000)
    expect(summary).not_to_contain_text("running")
    after_text = summary.inner_text()
    assert not after_text.startswith("⚠"), after_text
    expect(gantt.locator(".gtitle")).to_contain_text(f"m={new_m}:", timeout=30_000)
    after_title = gantt.locator(".gtitle").text_content()
    after_svg = gantt.locator("svg.main-svg").first.evaluate("e => e.outerHTML")
    after_bars = gantt.locator(".barlayer .point").count()

    p1, m1, measured1, theory1 = _summary(after_text)
    assert (p1, m1) == (p, new_m), after_text
    assert theory0 == pytest.approx((p - 1) / (m0 + p - 1), abs=1e-3)
    assert theory1 == pytest.approx((p - 1) / (new_m + p - 1), abs=1e-3)
    more = new_m > m0  # more micro-batches: smaller bubble, more bars (and the other way round)
    assert (measured1 < measured0) == more, (before_text, after_text)
    assert after_title != before_title
    assert after_svg != before_svg
    assert after_bars > 0 and (after_bars > before_bars) == more, (before_bars, after_bars)

    # the whole panel in view: a viewport as tall as the panel, the panel at the top
    height = panel.bounding_box()["height"]
    page.set_viewport_size({"width": 1400, "height": int(max(1000, height + 200))})
    panel.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)  # let plotly relayout after the resize
    page.screenshot(path=str(shot))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOT)
    _check_chinese_text(page, notebook, shot.with_name("chinese_text.png"))
    _check_reading_link(page, notebook, shot.with_name("book_03.png"))
    _check_no_noise(page, lab)


def _check_reading_link(page, notebook, shot: Path) -> None:
    """The first cell's "Reading: course/03_micro_batches.md" opens the built chapter in a new tab,
    its formulas typeset by the MathJax shipped with the book (the network is off)."""
    from ppedu.instructor.book.build import reading_link

    href = reading_link("course/03_micro_batches.md")
    link = notebook.locator(".jp-MarkdownCell").first.locator(f'a[href="{href}"]')
    link.scroll_into_view_if_needed()
    with page.context.expect_page() as opened:
        link.click()
    book = opened.value
    book.wait_for_load_state()
    assert book.url.endswith(href), book.url
    rendered = book.locator("mjx-container")
    _wait(lambda: rendered.count() >= 10, 30, "MathJax to typeset the chapter's formulas")
    text = book.locator("main").inner_text()
    assert "Micro-batches" in text and "\\frac" not in text, "raw LaTeX left on the page"
    book.screenshot(path=str(shot))
    shutil.copy(shot, SCREENSHOT.with_name(shot.name))
    book.close()


def _check_no_noise(page, lab: Lab) -> None:
    """No "official Jupyter news?" toast (scripts/jupyterlab_overrides.json), kernel messages
    encrypted (no "running over TCP without encryption" warnings)."""
    news = lab.api("/lab/api/settings/@jupyterlab/apputils-extension:notification")
    assert news["schema"]["properties"]["fetchNews"]["default"] == "false", news["schema"]
    assert page.get_by_text("official Jupyter news").count() == 0
    assert "without encryption" not in lab.log_path.read_text(errors="replace")


# Two different CJK characters drawn with the page's sans-serif fallback: without a CJK font both come
# out as the same empty box (the .notdef glyph), so equal bitmaps mean the text is unreadable.
_DRAW_GLYPHS = """chars => {
  const c = document.createElement('canvas'); c.width = 48; c.height = 48;
  const g = c.getContext('2d');
  return chars.map(ch => { g.clearRect(0, 0, 48, 48); g.font = '40px sans-serif';
                           g.fillText(ch, 2, 40); return c.toDataURL(); });
}"""


def _check_chinese_text(page, notebook, shot: Path) -> None:
    """The notebook's Chinese text (the source documents' titles) renders as glyphs, not boxes."""
    cell = notebook.locator(".jp-MarkdownCell").filter(has_text="流水线并行深度解析").first
    cell.scroll_into_view_if_needed()
    cell.screenshot(path=str(shot))
    shutil.copy(shot, SCREENSHOT.with_name("03_micro_batches_chinese.png"))
    bitmaps = page.evaluate(_DRAW_GLYPHS, ["流", "水", "线"])
    assert len(set(bitmaps)) == 3, ("Chinese characters render as identical boxes: no CJK font "
                                    "(scripts/setup_browser.sh installs fonts-noto-cjk)")


# ---- the Chinese edition: its notebooks and its book render Chinese glyphs -------------------------

ZH_NOTEBOOK = "02_bubbles.ipynb"
# Marks the first paragraph with eight Chinese characters in a row (the text a student reads), for
# the DevTools protocol to ask which fonts drew it.
_MARK_CHINESE = """selector => {
  const el = [...document.querySelectorAll(selector)].find(p => /[\\u4e00-\\u9fff]{8}/.test(p.textContent));
  if (!el) return null;
  el.setAttribute('data-ppedu-zh', '1'); el.scrollIntoView();
  return el.textContent;
}"""


def _chinese_fonts(page, selector: str) -> tuple[str, dict[str, int]]:
    """(text, {font family: glyphs drawn}) of the first Chinese paragraph under ``selector``:
    the platform fonts chromium actually used (DevTools CSS.getPlatformFontsForNode)."""
    text = _wait(lambda: page.evaluate(_MARK_CHINESE, selector), 30, f"a Chinese paragraph ({selector})")
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "[data-ppedu-zh]"})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return text, {f["familyName"]: f["glyphCount"] for f in fonts}


def _check_glyphs(page, selector: str, shot: Path) -> dict[str, int]:
    """Every Chinese character of the paragraph is drawn by an installed CJK font (no fallback
    box), two different characters give two different bitmaps, and a screenshot is kept."""
    text, fonts = _chinese_fonts(page, selector)
    cjk = {name: n for name, n in fonts.items() if "CJK" in name}
    hanzi = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    assert cjk and sum(cjk.values()) >= hanzi, (
        f"{hanzi} Chinese characters, drawn by {fonts}: no CJK font drew them "
        "(scripts/setup_browser.sh installs fonts-noto-cjk)")
    bitmaps = page.evaluate(_DRAW_GLYPHS, ["气", "泡", "批"])
    assert len(set(bitmaps)) == 3, "Chinese characters render as identical boxes"
    page.screenshot(path=str(shot))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOT.with_name(shot.name))
    return fonts


@pytest.mark.ranks
@pytest.mark.slow
def test_chinese_notebook_and_book_render_chinese_glyphs(chromium, figures, tmp_path):
    """`make course-zh` in a browser: the Chinese notebook (its Markdown) and its Reading link's
    Chinese book page, both drawn with a CJK font. Screenshots: build/screenshots/zh_*.png."""
    from ppedu.i18n import notebooks
    from ppedu.instructor.book.build import build_book, reading_link

    fc = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True)
    assert fc.stdout.strip(), "fontconfig knows no font for Chinese (scripts/setup_browser.sh installs one)"
    notebooks.build(tmp_path / "zh")
    lab = Lab(tmp_path, notebooks=tmp_path / "zh")
    try:
        build_book(lab.root / "book", work=tmp_path / "book-build", lang="zh", figures_from=figures)
        with _offline_page(chromium, lab) as page:
            page.set_default_timeout(30_000)
            page.goto(f"{lab.url}/lab/tree/{ZH_NOTEBOOK}?token={lab.token}")
            page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell").first.wait_for()
            _check_glyphs(page, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedMarkdown p",
                          tmp_path / "zh_02_bubbles_notebook.png")
            page.goto(f"{lab.url}{reading_link('course/02_bubbles.md')}")
            assert page.locator('html[lang="zh-CN"]').count() == 1, "the book page is not Chinese"
            assert "推导气泡" in page.locator("main").inner_text()
            _check_glyphs(page, "main p", tmp_path / "zh_02_bubbles_book.png")
    finally:
        lab.stop()
