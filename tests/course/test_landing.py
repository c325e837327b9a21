"""`make course`: the student copy in course-work/ (a student's edits survive the next run) and
JupyterLab opening on 00_setup, not on the Launcher (checked in headless chromium)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.ranks

ROOT = Path(__file__).resolve().parents[2]


def _course_recipe() -> tuple[list[str], str]:
    """The student-copy command line and LAB_FLAGS of the Makefile's `course` target."""
    text = (ROOT / "Makefile").read_text()
    work = re.search(r"^WORK := (.*)$", text, re.M).group(1).strip()
    flags = re.search(r"^LAB_FLAGS := (.*)$", text, re.M).group(1)
    recipe = text.split("\ncourse:", 1)[1].split("\n\n", 1)[0]
    assert "student-copy --src notebooks --out $(WORK) --keep-existing" in recipe
    assert "$(LAB_FLAGS)" in recipe and "notebooks/" not in recipe.split("jupyter lab", 1)[1]
    return flags.split(), work


def _student_copy(work: Path) -> None:
    subprocess.run([sys.executable, "-m", "ppedu.cli", "student-copy", "--src", str(ROOT / "notebooks"),
                    "--out", str(work), "--keep-existing"], check=True, capture_output=True, cwd=ROOT)


def test_course_work_is_ignored_and_keeps_a_students_edits(tmp_path: Path) -> None:
    _, work_name = _course_recipe()
    assert f"{work_name}/" in (ROOT / ".gitignore").read_text().split()
    work = tmp_path / work_name
    _student_copy(work)
    lab = work / "06_build_your_pipeline.ipynb"
    nb = nbformat.read(lab, as_version=4)
    assert "BEGIN SOLUTION" not in "".join(c.source for c in nb.cells)
    nb.cells[0].source += "\n\nmy notes"
    nbformat.write(nb, lab)
    (work / "02_bubbles.ipynb").unlink()
    _student_copy(work)
    assert nbformat.read(lab, as_version=4).cells[0].source.endswith("my notes")
    assert (work / "02_bubbles.ipynb").exists()  # missing chapters come back


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_jupyterlab_opens_on_00_setup(tmp_path: Path) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no /usr/bin/chromium (scripts/setup_browser.sh installs it)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    flags, work_name = _course_recipe()
    work = tmp_path / work_name
    _student_copy(work)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token, home = uuid.uuid4().hex, tmp_path / "jupyter"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "ws"))
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", *[f.replace("$(WORK)", str(work)) for f in flags]]
    proc = subprocess.Popen(cmd + (["--allow-root"] if os.geteuid() == 0 else []), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page()
            for _ in range(60):  # the server needs a few seconds
                try:
                    page.goto(f"http://127.0.0.1:{port}/?token={token}")
                    break
                except Exception:  # noqa: BLE001 - connection refused until it listens
                    time.sleep(1)
            page.wait_for_selector(".jp-Notebook", timeout=90_000)
            current = page.eval_on_selector_all(".lm-TabBar-tab.jp-mod-current .lm-TabBar-tabLabel",
                                                "els => els.map(e => e.textContent)")
            labels = page.eval_on_selector_all(".lm-DockPanel .lm-TabBar-tabLabel",
                                               "els => els.map(e => e.textContent)")
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernel it started for 00_setup
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert "00_setup.ipynb" in current, current
    assert "Launcher" not in labels, labels
