"""Run a course notebook headless (papermill), for CI and for instructors' GPU labs.

    from ppedu.instructor.headless import run_notebook
    run_notebook("notebooks/03_micro_batches.ipynb", "out.ipynb", {"p": 8, "m": 32, "backend": "nccl"})

Why not plain ``papermill``: nbclient sometimes misses the kernel's reply to a cell that displays
widgets (nbclient issue #312: the async zmq poll is not woken, although the reply is there), so the
cell waits for its whole execution timeout, or forever without one. Polling the shell channel in
short slices up to the same deadline finds the reply at once. Measured here: notebooks 01 and 02
stalled 150-300 s a run in two of two CI runs before, none in later runs after.
"""

from __future__ import annotations

import contextlib
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
    with sliced_shell_polls():
        pm.execute_notebook(str(path), str(out), parameters=parameters, kernel_name=kernel_name,
                            cwd=str(path.parent), execution_timeout=timeout_s,
                            progress_bar=progress, log_output=False)
    return out
