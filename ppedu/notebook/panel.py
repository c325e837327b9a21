"""The one Run-button panel every chapter uses: controls, a Run button, a summary line, figures.

    box = run_panel("Run a pipeline", controls, action, kind="training")
    box.run()            # what a click does, callable from a cell or a test

``action(values, progress)`` is a plain function returning ``(figures, summary_text)``; ``values``
maps each control's name to its current value (on top of ``base``), and ``progress(done, total,
label)`` moves the progress bar. Nothing runs on a slider tick, only on Run. An exception inside a
widget callback would vanish into the Jupyter log, so the panel shows its first line instead, in
the panel, marked with ``ERROR_PREFIX``.
"""

from __future__ import annotations

import html
from typing import Any, Callable, Mapping, Sequence

ERROR_PREFIX = "⚠ "
BUSY = "<i>running on the warm cluster… (the first run starts the ranks)</i>"


def error_line(exc: BaseException) -> str:
    """``⚠ UsageError: m must be ...``: the one line a panel shows for a failed run."""
    return f"{ERROR_PREFIX}{type(exc).__name__}: {exc}".splitlines()[0]


def guarded(fn: Callable[[], tuple[list, str]]) -> tuple[list, str]:
    """Run a panel callback's body; bad input (UsageError) and dead ranks (ClusterError) come back
    as ``([], "⚠ one line")`` instead of a traceback."""
    from ppedu.errors import ClusterError, UsageError
    try:
        return fn()
    except UsageError as exc:
        return [], ERROR_PREFIX + str(exc)
    except ClusterError as exc:  # the workers were stopped; the next get_cluster starts fresh ones
        return [], ERROR_PREFIX + str(exc).splitlines()[0] + " (press Run again for fresh ranks)"


def run_panel(title: str, controls: Mapping[str, Any], action: Callable, kind: str,
              base: Mapping[str, Any] | None = None, label: str = "Run",
              extras: Sequence[Any] = (), busy: str = BUSY):
    """A VBox with ``controls`` (name -> widget), ``extras`` (more widgets, not read), the Run
    button, a progress bar, the summary line and an output area for the figures.

    CSS classes ``ppedu-panel``, ``ppedu-<kind>-panel``, ``ppedu-run``, ``ppedu-summary``,
    ``ppedu-figures`` let the browser test find the parts. Handles: ``box.run()``,
    ``box.summary``, ``box.output``, ``box.controls``."""
    import ipywidgets as w
    from IPython.display import display

    button = w.Button(description=label, button_style="primary", icon="play")
    button.add_class("ppedu-run")
    bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="300px", visibility="hidden"))
    summary = w.HTML("<i>Press Run to measure.</i>")
    summary.add_class("ppedu-summary")
    out = w.Output()
    out.add_class("ppedu-figures")

    def progress(done: int, total: int, what: str = "") -> None:
        bar.max, bar.value = total, done
        bar.layout.visibility = "visible"
        summary.value = f"<i>measured {done}/{total}{' (' + html.escape(what) + ')' if what else ''}…</i>"

    def on_click(_=None) -> None:
        button.disabled, bar.value = True, 0
        summary.value = busy
        try:
            values = {**(base or {}), **{name: c.value for name, c in controls.items()}}
            try:
                figures, text = action(values, progress)
            except Exception as exc:
                figures, text = [], error_line(exc)
            if text.startswith(ERROR_PREFIX):
                summary.value = f"<span style='color:#D55E00'><b>{html.escape(text)}</b></span>"
                return
            summary.value = f"<b>{html.escape(text)}</b>"
            out.clear_output(wait=True)
            with out:
                for fig in figures:
                    display(fig)
        finally:
            button.disabled = False
            bar.layout.visibility = "hidden"

    button.on_click(on_click)
    header = w.HTML(f"<h4 style='margin:4px 0'>{html.escape(title)}</h4>")
    box = w.VBox([header, w.VBox(list(controls.values())), *extras, w.HBox([button, bar]),
                  summary, out])
    box.add_class("ppedu-panel")
    box.add_class(f"ppedu-{kind}-panel")
    box.run, box.summary, box.output, box.controls = on_click, summary, out, controls
    return box
