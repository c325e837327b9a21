"""Run a course notebook headless (papermill), for CI and for instructors' GPU labs.

    from ppedu.instructor.headless import run_notebook
    run_notebook("notebooks/03_micro_batches.ipynb", "out.ipynb", {"p": 8, "m": 32, "backend": "nccl"})

Why not plain ``papermill``: nbclient sometimes misses the kernel's reply to a cell that displays
widgets (nbclient issue #312: the async zmq poll is not woken, although the reply is there), so the
cell waits for its whole execution timeout, or forever without one. Polling the shell channel in
short slices up to the same deadline finds the reply at once. Measured here: notebooks 01 and 02
stalled 150-300 s a run in two of two CI runs before, none in later runs after.

nbclient replaces this process's SIGINT and SIGTERM handlers while it runs and puts them back only
when its run ends normally: a run stopped from outside (a timeout's SIGALRM, a KeyboardInterrupt)
left SIGINT on asyncio's no-op handler, so Ctrl-C (and ``_thread.interrupt_main``) did nothing
afterwards. ``run_notebook`` restores both handlers however the run ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path
from queue import Empty
from typing import Any, Iterator

from ppedu.errors import UsageError
from ppedu.i18n.messages import _

POLL_SLICE_S = 0.5


@contextlib.contextmanager
def sliced_shell_polls(slice_s: float = POLL_SLICE_S) -> Iterator[None]:
    """While active, jupyter_client's async ``get_msg(timeout)`` polls in ``slice_s`` slices."""
    from jupyter_client.channels import AsyncZMQSocketChannel

    original = AsyncZMQSocketChannel.get_msg

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = slice_s if deadline is None else max(0.0, deadline - time.monotonic())
            if await self.socket.poll(int(1000 * min(slice_s, left))):
                return await self._recv()
            if deadline is not None and left <= 0:
                raise Empty

    AsyncZMQSocketChannel.get_msg = get_msg
    try:
        yield
    finally:
        AsyncZMQSocketChannel.get_msg = original


@contextlib.contextmanager
def signal_handlers_kept() -> Iterator[None]:
    """Put SIGINT's and SIGTERM's handlers (and the wakeup fd asyncio sets) back on the way out.
    Only the main thread may set them (nbclient installs none elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    wakeup_fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup_fd)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:  # None: installed outside Python, nothing to restore from here
                signal.signal(sig, handler)
        signal.set_wakeup_fd(wakeup_fd)


def parameter_names(path: str | Path) -> list[str]:
    """Names assigned in the notebook's cell tagged ``parameters`` (what papermill may override)."""
    import papermill as pm

    return list(pm.inspect_notebook(str(path)))


def run_notebook(path: str | Path, out: str | Path, parameters: dict[str, Any] | None = None,
                 kernel_name: str | None = None, timeout_s: float = 600,
                 progress: bool = True) -> Path:
    """Execute ``path`` with ``parameters`` injected, write the executed copy to ``out``.

    Unknown parameter names are refused (a typo would otherwise be ignored silently). A failing cell
    raises ``papermill.PapermillExecutionError`` naming the cell."""
    import papermill as pm

    path, out = Path(path), Path(out)
    if not path.is_file():
        raise UsageError(_("notebook {path} not found").format(path=repr(str(path))))
    parameters = dict(parameters or {})
    known = parameter_names(path)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise UsageError(_("{name} has no parameter {unknown}; its parameters cell sets {known}").format(
            name=path.name, unknown=", ".join(unknown), known=", ".join(known) or _("nothing")))
    with signal_handlers_kept(), sliced_shell_polls():
        pm.execute_notebook(str(path), str(out), parameters=parameters, kernel_name=kernel_name,
                            cwd=str(path.parent), execution_timeout=timeout_s,
                            progress_bar=progress, log_output=False)
    return out
