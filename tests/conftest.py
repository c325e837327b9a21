"""Shared fixtures and helpers of the suite (the test files import the helpers from here).

Warm clusters are expensive (~5 s to start), so tests share them per module.
"""

from __future__ import annotations

import multiprocessing.process
from pathlib import Path
import subprocess
import textwrap
import time
import warnings

import nbformat
import psutil
import pytest
from hypothesis import HealthCheck, settings

from ppedu.errors import UsageError
from ppedu.runtime import cluster as cluster_mod


_WARM: dict[int, cluster_mod.Cluster] = {}
CLUSTER_FIXTURES = ("cluster2", "cluster4")


# -- the `ranks` marker cannot rot -----------------------------------------------------------------
# `pytest -m "not ranks"` (make fast) is the half that starts no process. A test that starts ranks, a
# subprocess (CLI, kernel, browser, sphinx) or uses a warm cluster without the marker fails here,
# in the full run too, so the fast half stays fast.

class UnmarkedRanks(RuntimeError):
    """A test without @pytest.mark.ranks started a process or used the ranks."""


_RUNNING: list = [None]   # the test being set up, run or torn down


def _check_marked(what: str) -> None:
    item = _RUNNING[0]
    if item is not None and item.get_closest_marker("ranks") is None:
        raise UnmarkedRanks(f"{item.nodeid} {what} but is not marked @pytest.mark.ranks "
                            "(mark it, or its module with pytestmark = pytest.mark.ranks)")


def _guarded(owner, name: str, what: str) -> None:
    original = getattr(owner, name)

    def guarded(*args, **kwargs):
        _check_marked(what)
        return original(*args, **kwargs)
    guarded.__wrapped__ = original
    setattr(owner, name, guarded)


def pytest_configure(config):
    _guarded(multiprocessing.process.BaseProcess, "start", "starts a process (ranks)")
    _guarded(subprocess.Popen, "__init__", "starts a subprocess")
    _guarded(cluster_mod.Cluster, "run", "runs a job on the ranks")


def pytest_unconfigure(config):
    for owner, name in ((multiprocessing.process.BaseProcess, "start"), (subprocess.Popen, "__init__"),
                        (cluster_mod.Cluster, "run")):
        setattr(owner, name, getattr(getattr(owner, name), "__wrapped__", getattr(owner, name)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _RUNNING[0] = item
    try:
        yield
    finally:
        _RUNNING[0] = None


def pytest_runtest_setup(item):
    if any(f in item.fixturenames for f in CLUSTER_FIXTURES):
        _check_marked(f"uses a warm cluster ({', '.join(CLUSTER_FIXTURES)})")


def _warm_cluster(n: int) -> cluster_mod.Cluster:
    """One warm cluster per size for the whole session (each start costs ~5 s on 2 cores);
    replaced if a test left it closed (a failed job kills its workers on purpose)."""
    c = _WARM.get(n)
    if c is None or c.closed:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the oversubscription warning is expected here
            c = _WARM[n] = cluster_mod.Cluster(n)
    return c


@pytest.fixture(scope="session", autouse=True)
def _close_warm_clusters():
    yield
    for c in _WARM.values():
        c.close()


@pytest.fixture(scope="module")  # module scope so module-scoped fixtures can use it too
def cluster2() -> cluster_mod.Cluster:
    return _warm_cluster(2)


@pytest.fixture(scope="module")
def cluster4() -> cluster_mod.Cluster:
    return _warm_cluster(4)


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """One intra-op thread in the test process: on a shared 2-core machine, 2 spinning OpenMP
    threads per process turn 30 ms steps into 1.5 s ones. Restored afterwards."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def alive(pids: list[int]) -> list[int]:
    """The pids among ``pids`` that still run (zombies count as gone)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def student(source: str):
    """``train_step`` compiled as if typed in a notebook cell: its module is not importable, so it
    travels to the ranks by value (cloudpickle), as a student's does."""
    namespace = {"__name__": "a_students_notebook"}
    exec(compile(textwrap.dedent(source), "<notebook cell>", "exec"), namespace)
    return namespace["train_step"]


# Property-based entry-point tests (hypothesis): every example must answer within BOUND_S, generous
# on a shared 2-core machine; the runaway cases this guards against take minutes.
BOUND_S = 2.0
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def one_line_usage_error(exc: UsageError) -> None:
    text = str(exc)
    assert text and "\n" not in text and len(text) < 400, f"not a one-line error: {text!r}"


def bounded(call):
    """Run ``call``; return its result or the UsageError it raised (one line), within BOUND_S."""
    start = time.perf_counter()
    try:
        out = call()
    except UsageError as exc:
        one_line_usage_error(exc)
        out = exc
    took = time.perf_counter() - start
    assert took < BOUND_S, f"took {took:.2f} s (bound {BOUND_S} s)"
    return out


def write_submission(nb, path: Path, answers: dict, checks: str | dict | None = None) -> Path:
    """Write a student's submission to ``path`` (its folder is the student's; returned): ``nb`` is a
    student copy, each exercise named in ``answers`` gets its answer: the source of its answer cell,
    or a list with one source per answer cell in order. ``checks="edit"`` turns every check cell into
    a print of ✓, ``"delete"`` removes them (both are what `ppedu grade` must catch); a dict
    {exercise: "edit" or "delete"} does so per exercise."""
    def tampering(cell) -> str | None:
        return checks.get(cell.metadata.get("exercise")) if isinstance(checks, dict) else checks

    seen: dict[int, int] = {}
    for cell in nb.cells:
        tags, number = cell.metadata.get("tags", []), cell.metadata.get("exercise")
        if "answer" in tags and number in answers:
            k = seen[number] = seen.get(number, -1) + 1
            cell.source = answers[number] if isinstance(answers[number], str) else answers[number][k]
        elif "check" in tags and tampering(cell) == "edit":
            cell.source = "print('✓ all good')"
    nb.cells = [c for c in nb.cells if not ("check" in c.metadata.get("tags", []) and tampering(c) == "delete")]
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path.parent


def exercise_cell(source: str, tag: str | None = None, exercise: int | None = None) -> nbformat.NotebookNode:
    """A code cell of a hand-built course notebook: tagged ``answer``/``check``/``hidden-check``
    with its exercise number, or untagged (shared by the grading tests' instructor notebooks)."""
    cell = nbformat.v4.new_code_cell(source)
    if tag:
        cell.metadata.update(tags=[tag], exercise=exercise)
    return cell
