"""Run one notebook of one submission in its own sandbox (used by ``ppedu grade``).

The notebook goes in on stdin and comes back executed on stdout, so it never lies in a file the
student's code could read. The runner (``python -m ppedu.instructor.autograde.sandbox``) and its kernel run

- ``bwrap`` mode (bubblewrap, when ``bwrap`` works here): the file system read-only, a fresh
  ``/tmp`` and a throwaway working folder, the other submissions, the instructor's notebooks, the
  repository's git data and the instructor's home hidden, no network but loopback (own network,
  PID and IPC namespaces), killed with the grader;
- ``plain`` mode (fallback): the same throwaway folder and environment, nothing hidden.

Both: an environment without the instructor's variables (PATH, PYTHONPATH, LANG only, and
``PPEDU_LANG`` set to the submission's language, so the kernel's messages are the student's), a
memory limit per process (RLIMIT_AS) and a wall-clock limit per notebook (the whole process group
is killed). What each mode does not protect against is in ``course/instructor.md``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import ppedu
from ppedu.errors import UsageError
from ppedu.i18n.catalog import N_, _, in_language
from ppedu.instructor.headless import sliced_shell_polls

MODES = ("auto", "bwrap", "plain")


def bwrap_works() -> bool:
    """True when bubblewrap is installed and may create namespaces here."""
    if shutil.which("bwrap") is None:
        return False
    try:
        return subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid",
                               "--proc", "/proc", "--dev", "/dev", "true"],
                              capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def resolve_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(_("--sandbox must be one of {modes} (got {mode!r})").format(modes=", ".join(MODES),
                                                                                    mode=mode))
    if mode == "auto":
        return "bwrap" if bwrap_works() else "plain"
    if mode == "bwrap" and not bwrap_works():
        raise UsageError(_("--sandbox bwrap: bubblewrap is not installed or cannot create namespaces here "
                           "(got --sandbox bwrap; install the Debian package bubblewrap or use auto)"))
    return mode


def _git_data(folder: Path) -> list[Path]:
    """The git data of the repository holding ``folder`` (a worktree's ``.git`` file points to it)."""
    for parent in [folder, *folder.parents]:
        dot = parent / ".git"
        if dot.is_dir():
            return [dot]
        if dot.is_file():
            text = dot.read_text(encoding="utf-8", errors="replace").strip()
            target = Path(text.split("gitdir:", 1)[-1].strip())
            return [dot, target.parent.parent if target.parent.name == "worktrees" else target]
    return []


def _hidden(hide: list[Path], workdir: Path) -> list[str]:
    """bwrap arguments that hide ``hide`` (folders: an empty tmpfs; files: /dev/null), except what
    Python, ppedu or the working folder need."""
    needed = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve(),
              Path(ppedu.__file__).resolve().parent, workdir.resolve()]
    args: list[str] = []
    for path in dict.fromkeys(p.resolve() for p in hide if p.exists()):
        if any(n == path or path in n.parents for n in needed):
            continue
        args += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
    return args


def command(mode: str, workdir: Path, hide: list[Path], cell_timeout_s: float) -> list[str]:
    runner = [sys.executable, "-m", "ppedu.instructor.autograde.sandbox", str(cell_timeout_s)]
    if mode != "bwrap":
        return runner
    home = Path(os.path.expanduser("~"))
    extra = [*hide, *_git_data(Path(__file__).resolve().parent), home]
    return ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
            "--tmpfs", "/dev/shm", *_hidden(extra, workdir), "--bind", str(workdir), str(workdir),
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--chdir",
            str(workdir), *runner]


def _limits(memory_mb: int):
    def apply() -> None:
        import resource
        if memory_mb:
            limit = memory_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def run(notebook_json: str, workdir: Path, *, mode: str, hide: list[Path], cell_timeout_s: float,
        notebook_timeout_s: float, memory_mb: int, grading: bool,
        lang: str = "en") -> tuple[str | None, str | None]:
    """Execute a notebook in the sandbox, its messages in ``lang``; return (executed notebook JSON or
    None, why it failed, in ``lang``)."""
    (workdir / "home").mkdir(parents=True, exist_ok=True)
    (workdir / "tmp").mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": os.environ.get("LANG", "C.UTF-8"),
           "HOME": str(workdir / "home"), "TMPDIR": str(workdir / "tmp"),
           "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "PYDEVD_DISABLE_FILE_VALIDATION": "1",
           "PPEDU_LANG": lang}
    if grading:
        env["PPEDU_GRADING"] = "1"
    proc = subprocess.Popen(command(mode, workdir, hide, cell_timeout_s), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=workdir,
                            start_new_session=True, preexec_fn=_limits(memory_mb), text=True)
    try:
        out, err = proc.communicate(notebook_json, timeout=notebook_timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, in_language(N_("the notebook ran past its time limit ({seconds:g} s) and was killed"),
                                 lang).format(seconds=notebook_timeout_s)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    if proc.returncode != 0 or not out.strip():
        last = (err.strip().splitlines() or [in_language(N_("no message"), lang)])[-1][:200]
        return None, in_language(N_("the notebook could not run (exit {code}: {last})"), lang).format(
            code=proc.returncode, last=last)
    return out, None


def execute_node(nb, folder: Path, cell_timeout_s: float = 120):
    """Run every cell of notebook ``nb`` (errors allowed, timeouts interrupt); return (notebook,
    fatal message or None). ``fatal`` says why the run stopped early (the kernel died), in the
    current language (the sandbox's runner: the submission's)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    client = NotebookClient(nb, timeout=cell_timeout_s, allow_errors=True, interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(folder)}})
    try:
        with sliced_shell_polls():
            client.execute()
    except DeadKernelError as exc:
        why = str(exc).splitlines()[0] if str(exc) else _("no reason given")
        return nb, _("the kernel died ({why})").format(why=why)
    except Exception as exc:  # noqa: BLE001 - one broken submission must not stop the class
        first = str(exc).splitlines()[0] if str(exc) else ""
        return nb, _("the notebook could not run: {error}: {message}").format(error=type(exc).__name__,
                                                                               message=first)
    return nb, None


def _main(cell_timeout_s: float) -> int:
    """Runner: read a notebook from stdin, execute it (errors allowed), write it to stdout."""
    import io

    import nbformat

    text = sys.stdin.read()
    sys.stdin.close()
    private = os.dup(1)   # not inheritable: the kernel and its children write to stderr instead
    os.dup2(2, 1)
    nb = nbformat.read(io.StringIO(text), as_version=4)
    ran, fatal = execute_node(nb, Path.cwd(), cell_timeout_s)
    ran.metadata["ppedu_fatal"] = fatal
    with os.fdopen(private, "w", encoding="utf-8") as out:
        out.write(nbformat.writes(ran))
    return 0


if __name__ == "__main__":
    sys.exit(_main(float(sys.argv[1])))
