"""Every course notebook runs headless through papermill with small parameters (CI smoke test),
and the nbval sanitize rules parse and do what they claim.

Each notebook must have a cell tagged ``parameters``; of the small values below, only those whose
names that cell assigns are injected, so a notebook never receives a parameter it does not know.
nbval (``pytest --nbval-lax --nbval-sanitize-with tests/course/nbval_sanitize.cfg notebooks/``) checks outputs
separately; this file only checks that the notebooks run end to end.
"""

from __future__ import annotations

import ast
import contextlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")

# what a 2-core CI machine can afford; instructors pass bigger ones (course/instructor.md)
# No "requests": chapter 5's default (32) is already small (with 8, its long-tail batches are so
# few that static K=2 and continuous K=2 tie and its "continuous wins" check is a coin toss).
# steps=2: at p=2 a step is 80-200 ms, so one OS hiccup of 10-20 ms moves a one-step bubble by 0.1;
# the chapters judge the fastest step (TrainResult.fastest_step_bubble_fraction)
SMALL = {"p": 2, "m": 4, "v": 2, "backend": "gloo", "steps": 2, "n_layers": 2,
         "layers": 2, "hidden": 32, "batch": 4, "seq": 16}

NATIVE = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}


@pytest.fixture(scope="session")
def kernel_name() -> str:
    """A Jupyter kernel that runs this interpreter (the venv), registering one if needed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        exe = KernelSpecManager().get_kernel_spec("python3").argv[0]
    except NoSuchKernel:
        exe = None
    # jupyter_client replaces a bare "python" with the running interpreter
    if exe in NATIVE or (exe and Path(exe).resolve() == Path(sys.executable).resolve()):
        return "python3"
    name = "ppedu-venv"
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", name,
                    "--display-name", "Python (ppedu venv)"], check=True, capture_output=True)
    return name


def small_parameters(path: Path) -> dict:
    """The SMALL values for the names assigned in the notebook's ``parameters`` cell."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert cells, (f"{path.name} has no cell tagged 'parameters'; papermill needs one to pass "
                   f"p, m, backend, ... (add the tag in JupyterLab's property inspector)")
    names = set()
    for node in ast.walk(ast.parse(cells[0].source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return {k: v for k, v in SMALL.items() if k in names}


def notebook_defaults(path: Path) -> dict:
    """The literal values the notebook's ``parameters`` cell assigns (what nbval runs with)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    out = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            with contextlib.suppress(ValueError):
                out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def _same_as_nbval(defaults: dict, params: dict) -> bool:
    """Whether the smoke run would repeat nbval's run of the notebook here: every small value is
    the default, ``backend="auto"`` counting as what it picks on this machine (gloo without GPUs)."""
    from ppedu.runtime.worker import resolve_backend

    for name, value in params.items():
        default = defaults.get(name)
        if name == "backend" and default == "auto":
            default = resolve_backend("auto", defaults.get("p", 1))
        if default != value:
            return False
    return True


def _cases() -> list:
    if not NOTEBOOKS:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason="no notebooks in notebooks/ yet (the chapters are written after the library)"))]
    return [pytest.param(path, id=path.stem) for path in NOTEBOOKS]


@pytest.mark.ranks
@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", _cases())
def test_notebook_runs_headless(path: Path, kernel_name: str, tmp_path: Path) -> None:
    import papermill as pm

    from ppedu.instructor.headless import run_notebook

    params = small_parameters(path)
    if _same_as_nbval(notebook_defaults(path), params):
        # the notebook's own defaults are already this small: nbval (make test) runs exactly this
        pytest.skip(f"{path.name}: the small parameters {params} are its defaults; nbval runs it")
    out = tmp_path / path.name
    try:
        # ppedu.instructor.headless: papermill, polling around nbclient #312's stalls on widget cells
        run_notebook(path, out, params, kernel_name=kernel_name, timeout_s=240, progress=False)
    except pm.PapermillExecutionError as exc:
        pytest.fail(f"{path.name} failed in cell {exc.cell_index} with {params}: "
                    f"{exc.ename}: {exc.evalue}", pytrace=False)
    assert out.is_file()


def test_committed_notebooks_have_no_outputs() -> None:
    """Notebooks are committed with outputs cleared (issue 8): diffs stay readable."""
    if not NOTEBOOKS:
        pytest.skip("no notebooks in notebooks/ yet")
    import nbformat

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.outputs]
        assert not dirty, f"{path.name}: clear the outputs of cells {dirty} before committing"


@pytest.mark.parametrize("text, expected", [
    ("step took 0.123 s", "step took DURATION"),
    ("measured in 12ms, 3.5e-3 s", "measured in DURATION, DURATION"),
    ("started 2025-11-23 11:04:05.123", "started DATETIME"),
    ("at 11:04:05", "at CLOCK"),
    ("rank 0 listening on 127.0.0.1:29500", "rank 0 listening on HOST:PORT"),
    ("MASTER_PORT=29512", "PORT=N"),
    ("worker pid 43122 died", "worker PID=N died"),
    ("<Tensor object at 0x7f3a2c1d9e80>", "<Tensor object at 0xADDRESS>"),
    ("throughput 812.4 tok/s", "throughput RATE"),
    ("peak RSS 412.5 MB", "peak RSS SIZE"),
    ("node 10.1.2.3 joined", "node IP.ADDRESS joined"),
    ("p=4 stages, m=8 micro-batches, bubble 0.273", "p=4 stages, m=8 micro-batches, bubble 0.273"),
])
def test_sanitize_rules(text: str, expected: str) -> None:
    import re

    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns(SANITIZE.read_text(encoding="utf-8"))
    assert len(patterns) >= 10, "nbval could not read the sanitize file"
    for regex, replace in patterns:  # nbval applies them in file order, as here
        text = re.sub(regex, replace, text)
    assert text == expected


@pytest.mark.parametrize("argv, message", [
    (["notebooks/02_bubbles.ipynb", "OUT", "-p", "q", "3"],
     "02_bubbles.ipynb has no parameter q; its parameters cell sets p, backend, steps, tf_ms"),
    (["missing.ipynb", "OUT"], "notebook 'missing.ipynb' not found"),
    (["notebooks/02_bubbles.ipynb", "OUT", "--timeout", "0"], "--timeout must be a number in"),
])
@pytest.mark.ranks
def test_run_notebook_cli_refuses_bad_input(argv: list, message: str, tmp_path: Path) -> None:
    argv = [str(tmp_path / "out.ipynb") if a == "OUT" else a for a in argv]
    proc = subprocess.run([sys.executable, "-m", "ppedu.cli", "run-notebook", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.ipynb").exists()


def test_run_notebook_puts_the_signal_handlers_back_when_a_run_is_stopped(monkeypatch, tmp_path) -> None:
    """nbclient installs asyncio's no-op SIGINT handler and removes it only when its run ends
    normally; a run stopped from outside (here: a timeout) must not leave Ctrl-C dead for the rest
    of the process (tests/runtime/test_classroom.py's interrupt then did nothing)."""
    import asyncio
    import signal

    import papermill as pm

    from ppedu.instructor.headless import run_notebook

    class Stopped(BaseException):
        """What pytest-timeout raises from its SIGALRM handler."""

    loops = []

    def leaky_run(*args, **kwargs):  # nbclient's async_setup_kernel, stopped before its finally
        loop = asyncio.new_event_loop()
        loops.append(loop)
        loop.add_signal_handler(signal.SIGINT, lambda: None)
        loop.add_signal_handler(signal.SIGTERM, lambda: None)
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler  # the leak is real
        raise Stopped

    monkeypatch.setattr(pm, "execute_notebook", leaky_run)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(Stopped):
            run_notebook(NOTEBOOK_DIR / "02_bubbles.ipynb", tmp_path / "out.ipynb", progress=False)
    finally:
        after = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        wakeup_fd = signal.set_wakeup_fd(-1)
        for loop in loops:
            loop.close()  # resets SIGINT and SIGTERM to Python's defaults
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
    assert loops, "the stand-in for nbclient did not run"
    assert after == before
    assert wakeup_fd == -1, "asyncio's wakeup fd was left installed"
