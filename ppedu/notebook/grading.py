"""What every exercise checker promises: an answer, never a crash from deep inside.

A checker either prints a line starting with ✓, raises an ``AssertionError`` that says what is
wrong with the student's answer (and gives a hint), or raises a one-line ``UsageError`` when it
was called with something it cannot grade (a measurement of the wrong shape, p = 0, a function
that raises). ``@grader`` turns any other exception into that UsageError, naming the checker,
so an exercise cell never ends in a KeyError twenty frames down.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class NotAnswered(NotImplementedError):
    """An exercise the student has not answered yet (the student copy's stub raises it).

    Raised only when the unanswered function is called or the blank value is used, so Run All goes
    on: check cells (``with exercise(N):``) and ``@grader`` print ``"Exercise N: not answered yet"``
    instead of a traceback; ``ppedu grade`` scores the exercise 0 ("not answered")."""

    def __init__(self, exercise: str = "this exercise", reason: str = "not answered yet"):
        self.exercise, self.reason = exercise, reason
        super().__init__(f"{exercise}: {reason}")


class Blank:
    """The student copy's value of an unanswered top-level answer (``m_10 = Blank("Exercise 1")``):
    using it in any way (arithmetic, comparison, calling, indexing, printing) raises NotAnswered."""

    def __init__(self, exercise: str = "this exercise", reason: str = "not answered yet"):
        object.__setattr__(self, "_why", (exercise, reason))

    def _raise(self, *args: Any, **kwargs: Any) -> Any:
        raise NotAnswered(*object.__getattribute__(self, "_why"))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):   # copy/pickle probing: plain AttributeError
            raise AttributeError(name)
        self._raise()

    def __repr__(self) -> str:
        return "Blank({!r}, {!r})".format(*object.__getattribute__(self, "_why"))

    __call__ = __bool__ = __iter__ = __len__ = __getitem__ = __contains__ = __index__ = _raise
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = __format__ = __str__ = _raise
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _raise
    __floordiv__ = __rfloordiv__ = __mod__ = __pow__ = __rpow__ = __neg__ = __abs__ = _raise
    __float__ = __int__ = __round__ = __setattr__ = _raise


def unanswered(value: Any) -> NotAnswered | None:
    """The NotAnswered a student-copy stub stands for (a Blank, or a function whose body still
    raises NotAnswered), else None. Looks at the code, never calls it."""
    if isinstance(value, Blank):
        return NotAnswered(*object.__getattribute__(value, "_why"))
    code = getattr(value, "__code__", None)
    if code is not None and "NotAnswered" in code.co_names:
        name = next((c for c in code.co_consts if isinstance(c, str) and c.startswith("Exercise")), None)
        return NotAnswered(name or f"the exercise that defines {getattr(value, '__name__', '?')}")
    return None


def answered(*answers: Any) -> bool:
    """True when every one of ``answers`` is answered; else print "answer Exercise N first" (one
    line) and return False, so a cell that uses an answer can skip its chart instead of drawing
    nonsense: ``if answered(train_step_afab): ...``."""
    for value in answers:
        missing = unanswered(value)
        if missing is not None:
            print(f"answer {missing.exercise} first: this cell uses it")
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
GRADING = os.environ.get("PPEDU_GRADING") == "1"   # `ppedu grade`: NotAnswered must fail the check


@contextlib.contextmanager
def exercise(number: int):
    """The check cells' guard: ``with exercise(1): <checks>``. An unanswered exercise prints one line,
    "Exercise 1: not answered yet", and the notebook goes on (under ``ppedu grade`` it fails the
    check instead, and scores 0)."""
    _open_checks[0] += 1
    try:
        yield
    except NotAnswered as exc:
        if GRADING:
            raise
        print(exc)
    finally:
        _open_checks[0] -= 1


def grader(fn: F) -> F:
    """Wrap checker ``fn``: AssertionError and UsageError pass through, anything else becomes a
    UsageError ``"check_x cannot grade this: KeyError: 'tp'"`` (first line only). NotAnswered
    prints "Exercise N: not answered yet" and returns None (inside ``with exercise(N):`` or under
    ``ppedu grade`` it passes through)."""
    from ppedu.errors import UsageError

    @functools.wraps(fn)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            require(*args, *kwargs.values())     # a Blank or a stub passed in: "not answered yet"
            return fn(*args, **kwargs)
        except NotAnswered as exc:
            if GRADING or _open_checks[0]:
                raise
            print(exc)
            return None
        except (AssertionError, UsageError):
            raise
        except Exception as exc:  # noqa: BLE001 - the point is to catch what nobody foresaw
            first = (str(exc).splitlines() or [""])[0][:200]
            raise UsageError(f"{fn.__name__} cannot grade this: {type(exc).__name__}: "
                             f"{first}") from None
    return checked  # type: ignore[return-value]
