"""What every exercise checker promises: an answer, never a crash from deep inside.

A checker either prints a line starting with ✓, raises an ``AssertionError`` that says what is
wrong with the student's answer (and gives a hint), or raises a one-line ``UsageError`` when it
was called with something it cannot grade (a measurement of the wrong shape, p = 0, a function
that raises). ``@grader`` turns any other exception into that UsageError, naming the checker,
so an exercise cell never ends in a KeyError twenty frames down.

What the student sees: the message and the line of *their* code that failed, no library frames.
``@grader`` gives every exception it lets out an IPython ``_render_traceback_`` (the hook IPython
and ipykernel call instead of printing the full traceback), so a wrong answer reads e.g.

    AssertionError: the bubble is (p-1)/(m+p-1) ... (the hint)
    your code, line 3: check_bubble_formula(bubble)

Outside IPython (pytest, scripts) exceptions are untouched: same class, message and traceback.
``NotAnswered``, ``Blank`` and ``unanswered`` live one layer down, in ``ppedu.unanswered`` (the lab
needs them too); they are re-exported here for the checks and the chapter facades.
"""

from __future__ import annotations

import contextlib
import functools
import linecache
import re
import sys
from types import FrameType, TracebackType
from typing import Any, Callable, TypeVar

from ppedu import unanswered as contract
from ppedu.errors import UsageError
from ppedu.i18n.messages import _
from ppedu.unanswered import Blank, NotAnswered, exercise_name, unanswered  # noqa: F401 - re-exported

F = TypeVar("F", bound=Callable[..., Any])
OK = "\u2713"   # ✓: the first character of every checker's success line


def answered(*answers: Any) -> bool:
    """True when every one of ``answers`` is answered; else print "answer Exercise N first" (one
    line) and return False, so a cell that uses an answer can skip its chart instead of drawing
    nonsense: ``if answered(train_step_afab): ...``."""
    for value in answers:
        missing = unanswered(value)
        if missing is not None:
            print(_("answer {exercise} first: this cell uses it").format(exercise=exercise_name(missing.exercise)))
            return False
    return True


def require(*answers: Any) -> None:
    """Raise the NotAnswered of the first unanswered one of ``answers`` (a check cell that needs
    an earlier exercise's answer: ``require(one_f_one_b)``)."""
    for value in answers:
        missing = unanswered(value)
        if missing is not None:
            raise missing


_open_checks = [0]


@contextlib.contextmanager
def exercise(number: int):
    """The check cells' guard: ``with exercise(1): <checks>``. An unanswered exercise prints one line,
    "Exercise 1: not answered yet", and the notebook goes on (under ``ppedu grade`` it fails the
    check instead, and scores 0)."""
    _open_checks[0] += 1
    try:
        yield
    except NotAnswered as exc:
        if contract.GRADING:   # read at call time: `ppedu grade` (or a test) sets it
            raise
        print(exc)
    finally:
        _open_checks[0] -= 1


def grader(fn: F) -> F:
    """Wrap checker ``fn``: AssertionError and UsageError pass through, anything else becomes a
    UsageError ``"check_x cannot grade this: KeyError: 'tp'"`` (first line only). NotAnswered
    prints "Exercise N: not answered yet" and returns None (inside ``with exercise(N):`` or under
    ``ppedu grade`` it passes through)."""
    @functools.wraps(fn)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            require(*args, *kwargs.values())     # a Blank or a stub passed in: "not answered yet"
            return fn(*args, **kwargs)
        except NotAnswered as exc:
            if contract.GRADING or _open_checks[0]:
                raise
            print(exc)
            return None
        except (AssertionError, UsageError):
            raise
        except Exception as exc:  # noqa: BLE001 - the point is to catch what nobody foresaw
            first = (str(exc).splitlines() or [""])[0][:200]
            raise UsageError(_("{name} cannot grade this: {type}: {error}").format(
                name=fn.__name__, type=type(exc).__name__, error=first)) from None
    return _short_feedback(checked)  # type: ignore[return-value]


# ---- display: one message and the student's own line ---------------------------------------------

# code typed in a notebook cell or an IPython prompt (ipykernel >= 6 names cells like this)
_CELL = re.compile(r"(ipykernel_\d+[/\\]\d+\.py|<ipython-input-[\d-]+.*>)$")


def _is_student(filename: str) -> bool:
    return bool(_CELL.search(filename))


def _where(filename: str, lineno: int) -> str:
    code = linecache.getline(filename, lineno).strip()
    where = _("your code, line {line}").format(line=lineno)
    return f"{where}: {code}" if code else where


def _tb_frames(exc: BaseException | None) -> list[tuple[str, int]]:
    """(file, line) of every frame in ``exc``'s traceback and in the one it replaced."""
    out: list[tuple[str, int]] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb: TracebackType | None = exc.__traceback__
        while tb is not None:
            out.append((tb.tb_frame.f_code.co_filename, tb.tb_lineno))
            tb = tb.tb_next
        exc = exc.__context__
    return out


def short_traceback(exc: BaseException, caller: FrameType | None) -> list[str]:
    """The lines a student sees: ``Type: message``, then the cell line that called the checker
    and, when the checker ran a function of theirs that failed, that function's failing line."""
    red, plain = "\x1b[0;31m", "\x1b[0m"
    lines = [f"{red}{type(exc).__name__}{plain}: {exc}"]
    frame = caller
    while frame is not None and not _is_student(frame.f_code.co_filename):
        frame = frame.f_back          # a checker called by ppedu code: find the cell above it
    if frame is not None:
        lines.append(_where(frame.f_code.co_filename, frame.f_lineno))
    inner = [f for f in _tb_frames(exc) if _is_student(f[0])]
    if inner:
        lines.append(_where(*inner[-1]).replace(_("your code"), _("your function"), 1))
    return lines


def _short_feedback(checked: F) -> F:
    """Let IPython show an escaping exception as ``short_traceback`` lines (nothing else changes)."""
    @functools.wraps(checked)
    def shown(*args: Any, **kwargs: Any) -> Any:
        try:
            return checked(*args, **kwargs)
        except Exception as exc:
            lines = short_traceback(exc, sys._getframe(1))
            try:
                exc._render_traceback_ = lambda: lines  # type: ignore[attr-defined]
            except AttributeError:   # an exception type with __slots__: shown in full
                pass
            raise
    return shown  # type: ignore[return-value]
