"""What every exercise checker promises: an answer, never a crash from deep inside.

A checker either prints a line starting with ✓, raises an ``AssertionError`` that says what is
wrong with the student's answer (and gives a hint), or raises a one-line ``UsageError`` when it
was called with something it cannot grade (a measurement of the wrong shape, p = 0, a function
that raises). ``@grader`` turns any other exception into that UsageError, naming the checker,
so an exercise cell never ends in a KeyError twenty frames down.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def grader(fn: F) -> F:
    """Wrap checker ``fn``: AssertionError and UsageError pass through, anything else becomes a
    UsageError ``"check_x cannot grade this: KeyError: 'tp'"`` (first line only)."""
    from ppedu.errors import UsageError

    @functools.wraps(fn)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (AssertionError, UsageError):
            raise
        except Exception as exc:  # noqa: BLE001 - the point is to catch what nobody foresaw
            first = (str(exc).splitlines() or [""])[0][:200]
            raise UsageError(f"{fn.__name__} cannot grade this: {type(exc).__name__}: "
                             f"{first}") from None
    return checked  # type: ignore[return-value]
