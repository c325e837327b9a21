"""The one Run-button panel every chapter uses: controls, a Run button, a summary line, figures.

    box = run_panel("Run a pipeline", controls, action, kind="training")
    box.run()            # what a click does, callable from a cell or a test

    @panel_action        # the chapters' plain functions: bad input -> ([], "⚠ one line")
    def run_x(values): ...

Also the small helpers every widget module shares (unknown keys: ``ppedu.errors.check_names``):
``number`` (a value or "n/a"), ``label_style`` (labels wide enough not to be cut off).

``action(values, progress)`` is a plain function returning ``(figures, summary_text)``; ``values``
maps each control's name to its current value (on top of ``base``), and ``progress(done, total,
label)`` moves the progress bar. Nothing runs on a slider tick, only on Run. An exception inside a
widget callback would vanish into the Jupyter log, so the panel shows its first line instead, in
the panel, marked with ``ERROR_PREFIX``.
"""

from __future__ import annotations

import functools
import html
import unicodedata
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from ppedu.errors import ClusterError, UsageError
from ppedu.i18n.messages import N_, _

F = TypeVar("F", bound=Callable[..., Any])

ERROR_PREFIX = "⚠ "
BUSY = N_("<i>running on the warm cluster… (the first run starts the ranks)</i>")


def error_line(exc: BaseException) -> str:
    """``⚠ UsageError: m must be ...``: the one line a panel shows for a failed run."""
    return f"{ERROR_PREFIX}{type(exc).__name__}: {exc}".splitlines()[0]


def guarded(fn: Callable[[], tuple[list, str]]) -> tuple[list, str]:
    """Run a panel callback's body; bad input (UsageError) and dead ranks (ClusterError) come back
    as ``([], "⚠ one line")`` instead of a traceback."""
    try:
        return fn()
    except UsageError as exc:
        return [], ERROR_PREFIX + str(exc)
    except ClusterError as exc:  # the workers were stopped; the next get_cluster starts fresh ones
        return [], ERROR_PREFIX + str(exc).splitlines()[0] + _(" (press Run again for fresh ranks)")


def panel_action(fn: F) -> F:
    """Decorator for a panel's plain function ``run_x(values, ...) -> (figures, summary)``: the
    body runs under ``guarded``, so tests and the Run button both get ``([], "⚠ line")`` for bad
    input instead of an exception."""
    @functools.wraps(fn)
    def action(*args: Any, **kwargs: Any) -> tuple[list, str]:
        return guarded(lambda: fn(*args, **kwargs))
    return action  # type: ignore[return-value]


def number(x: float | None, spec: str = ".3f", scale: float = 1.0, unit: str = "") -> str:
    """``x * scale`` formatted with ``spec`` and ``unit``, or "n/a" when there is no value."""
    return "n/a" if x is None else f"{x * scale:{spec}}{unit}"


def label_style(descriptions: Iterable[str]) -> dict:
    """A ``description_width`` wide enough for the longest label (ipywidgets cuts labels off with
    "…" at a fixed width): about 7.5 px per character of the 13 px UI font, plus a margin."""
    # a Chinese character is about twice as wide as a Latin one
    longest = max((sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in d)
                   for d in descriptions), default=10)
    return {"description_width": f"{int(7.5 * longest) + 12}px"}


def _parts(label: str):
    """The panel's fixed widgets: Run button, progress bar, summary line, figure area."""
    import ipywidgets as w
    button = w.Button(description=label, button_style="primary", icon="play")
    button.add_class("ppedu-run")
    bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="300px", visibility="hidden"))
    summary = w.HTML(_("<i>Press Run to measure.</i>"))
    summary.add_class("ppedu-summary")
    out = w.Output()
    out.add_class("ppedu-figures")
    return button, bar, summary, out


def _show(summary, out, figures: list, text: str) -> None:
    """Put a run's result in the panel. A failed run also clears the figures: an error line above
    the previous run's chart would read as if that chart belonged to the bad input."""
    from IPython.display import display
    out.clear_output(wait=not text.startswith(ERROR_PREFIX))
    if text.startswith(ERROR_PREFIX):
        summary.value = f"<span style='color:#D55E00'><b>{html.escape(text)}</b></span>"
        return
    summary.value = f"<b>{html.escape(text)}</b>"
    with out:
        for fig in figures:
            display(fig)


def run_panel(title: str, controls: Mapping[str, Any], action: Callable, kind: str,
              base: Mapping[str, Any] | None = None, label: str = N_("Run"),
              extras: Sequence[Any] = (), busy: str = BUSY):
    """A VBox with ``controls`` (name -> widget), ``extras`` (more widgets, not read), the Run
    button, a progress bar, the summary line and an output area for the figures.

    CSS classes ``ppedu-panel``, ``ppedu-<kind>-panel``, ``ppedu-run``, ``ppedu-summary``,
    ``ppedu-figures`` let the browser test find the parts. Handles: ``box.run()``,
    ``box.summary``, ``box.output``, ``box.controls``."""
    import ipywidgets as w
    button, bar, summary, out = _parts(_(label))
    busy = _(busy)

    def progress(done: int, total: int, what: str = "") -> None:
        bar.max, bar.value = total, done
        bar.layout.visibility = "visible"
        summary.value = _("<i>measured {done}/{total}{what}…</i>").format(
            done=done, total=total, what=f" ({html.escape(what)})" if what else "")

    def on_click(_=None) -> None:
        button.disabled, bar.value = True, 0
        summary.value = busy
        try:
            values = {**(base or {}), **{name: c.value for name, c in controls.items()}}
            try:
                figures, text = action(values, progress)
            except Exception as exc:
                figures, text = [], error_line(exc)
            _show(summary, out, figures, text)
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
