"""An exercise not answered yet, and what ``ppedu grade`` changes about it: the contract the
notebook's checks (``ppedu.notebook.grading``) and the lab's grader (``ppedu.lab.grader``) both keep,
one layer below both so that neither imports the other.

    NotAnswered   raised by the student copy's stub when it is called (or a Blank when it is used)
    Blank         the student copy's value of an unanswered top-level answer
    unanswered    the NotAnswered a stub or a Blank stands for, found without calling it
    GRADING       ``ppedu grade`` is running: an unanswered exercise fails its check (scores 0)
    rank_check    under ``ppedu grade``: the check the lab runs on its ranks around a graded attempt,
                  handed down by ``ppedu.instructor.autograde.answers`` (``check_ranks_with``)
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable

from ppedu.i18n.messages import N_, _


class NotAnswered(NotImplementedError):
    """An exercise the student has not answered yet (the student copy's stub raises it).

    Raised only when the unanswered function is called or the blank value is used, so Run All goes
    on: check cells (``with exercise(N):``) and ``@grader`` print ``"Exercise N: not answered yet"``
    instead of a traceback; ``ppedu grade`` scores the exercise 0 ("not answered")."""

    def __init__(self, exercise: str = N_("this exercise"), reason: str | None = None):
        reason = _("not answered yet") if reason in (None, "not answered yet") else reason
        self.exercise, self.reason = exercise, reason
        super().__init__(_("{exercise}: {reason}").format(exercise=exercise_name(exercise), reason=reason))

    def __reduce__(self):  # crosses process boundaries (ranks, grading kernels) unchanged
        return type(self), (self.exercise, self.reason)


class Blank:
    """The student copy's value of an unanswered top-level answer (``m_10 = Blank("Exercise 1")``):
    using it in any way (arithmetic, comparison, calling, indexing, printing) raises NotAnswered."""

    def __init__(self, exercise: str = N_("this exercise"), reason: str = N_("not answered yet")):
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


def exercise_name(label: str) -> str:
    """``Exercise 3`` (as the notebooks' code names it) in the student's language."""
    found = re.fullmatch(r"Exercise\s+(\d+)", label)
    return _("Exercise {number}").format(number=found.group(1)) if found else _(label)


def unanswered(value: Any) -> NotAnswered | None:
    """The NotAnswered a student-copy stub stands for (a Blank, or a function whose body still
    raises NotAnswered), else None. Looks at the code, never calls it."""
    if isinstance(value, Blank):
        return NotAnswered(*object.__getattribute__(value, "_why"))
    code = getattr(value, "__code__", None)
    if code is not None and "NotAnswered" in code.co_names:
        name = next((c for c in code.co_consts if isinstance(c, str) and c.startswith("Exercise")), None)
        return NotAnswered(name or _("the exercise that defines {name}").format(name=getattr(value, "__name__", "?")))
    return None


# Both read at call time (tests set them). A student's function that changes either while it is
# called is caught by ``ppedu grade``'s fingerprint, which covers this module too.
GRADING = os.environ.get("PPEDU_GRADING") == "1"   # `ppedu grade`: NotAnswered must fail the check
rank_check: Callable[[], None] | None = None


def check_ranks_with(check: Callable[[], None]) -> None:
    """Under ``ppedu grade``: ``check`` (a module-level function, so the ranks can import it) runs on
    every lab rank before and after a graded attempt and raises if a student's step changed the
    checking code there. The instructor's tools hand it down; the lab never imports them."""
    global rank_check
    rank_check = check
