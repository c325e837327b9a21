"""What `ppedu grade` tells a student (the scores CSV's ``message`` and ``locked_cells``), in the
submission's language.

A failed cell is a :class:`Failure`: its ``kind`` decides how the exercise is scored and worded,
never its text, so grading works the same in every language. ``text`` holds only words the grading
kernel wrote itself (an assertion's message, written by the checkers in the language the kernel ran
in, or why a run stopped). The language of a grading run is :func:`language_of` the submission: its
notebook metadata ``ppedu_lang`` (the Chinese student copy sets ``zh``) wins, else ``PPEDU_LANG``
(the grader's own language), else English; a message without a translation stays English.
"""

from __future__ import annotations

from dataclasses import dataclass

from ppedu.i18n.catalog import LANGUAGES, N_, in_language, language

UNANSWERED = "unanswered"     # the check met a student-copy stub: NotAnswered
MISSING = "missing"           # the answer run sent no value for a name (``reason`` says why)
INTERRUPTED = "interrupted"   # the cell ran past its time limit (KeyboardInterrupt)
ERROR = "error"               # the check raised (an assertion, or any other error)
CHANGED = "changed"           # ``verify`` caught the answer patching the checking code
NOT_RUN = "not run"           # the notebook stopped before the cell (``text``: why)

CHANGED_ERROR = "CheckingCodeChanged"   # the exception ``answers.verify`` raises (by name: it
                                        # crosses the kernel boundary as an output's ``ename``)
NOT_ANSWERED_ERROR = "NotAnswered"

# why an answer was not sent to the check run (``answers.export``/``load`` record the key)
REASONS = {
    "undefined": N_("the answer cell defines no `{name}`"),
    "unsendable": N_("`{name}` cannot be sent to the grader ({error})"),
    "unfinished": N_("the answer cell did not finish"),
    "unloadable": N_("`{name}` could not be loaded ({error})"),
}


@dataclass(frozen=True)
class Failure:
    """Why a cell failed: ``kind`` (one of the constants above), the kernel's own ``text`` and the
    exception's name ``error`` (kind ERROR); kind MISSING: ``reason`` (a REASONS key) and ``name``."""
    kind: str
    text: str = ""
    error: str = ""
    reason: str = ""
    name: str = ""


def language_of(nb) -> str:
    """The language of a submission's feedback: its metadata ``ppedu_lang``, else the current
    language (``PPEDU_LANG``), else English; a language ppedu has no catalog for is English."""
    stated = str(nb.metadata.get("ppedu_lang") or "").strip().lower().replace("-", "_").split("_")[0]
    if not stated:
        return language()
    return stated if stated in LANGUAGES else "en"


def failure_of(cell) -> Failure | None:
    """The Failure of an executed cell (from its error output's exception name), else None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            name = out.get("ename", "")
            value = (str(out.get("evalue", "")).splitlines() or [""])[0]
            if name == "KeyboardInterrupt":
                return Failure(INTERRUPTED)
            if name == NOT_ANSWERED_ERROR:
                return Failure(UNANSWERED)
            if name == CHANGED_ERROR:
                return Failure(CHANGED, value)
            return Failure(ERROR, value, name)
    return None


def render(failure: Failure, lang: str) -> str:
    """``failure`` in words, in ``lang``."""
    def tr(message: str) -> str:
        return in_language(message, lang)
    if failure.kind == UNANSWERED:
        return tr(N_("not answered"))
    if failure.kind == MISSING:
        return tr(REASONS[failure.reason]).format(name=failure.name, error=failure.text)
    if failure.kind == INTERRUPTED:
        return tr(N_("interrupted: the cell ran past its time limit (a hang or a deadlock?)"))
    if failure.kind == NOT_RUN:
        why = failure.text or tr(N_("the notebook stopped before this cell"))
        return tr(N_("not run: {why}")).format(why=why)
    if failure.kind == CHANGED:
        return failure.text
    if not failure.text:
        return tr(N_("{error}: a check failed (it gives no message)")).format(error=failure.error)
    return f"{failure.error}: {failure.text}"[:300]


def exercise_message(failure: Failure | None, hidden: bool, raised: Failure | None, lang: str) -> str:
    """The ``message`` of one exercise: "ok", or why its first failing check failed ("hidden
    check: ..." for a hidden one, the answer cell's own error after it); a plain "not answered"
    gets neither."""
    if failure is None:
        return in_language(N_("ok"), lang)
    message = render(failure, lang)
    if failure.kind == UNANSWERED:
        return message
    if hidden:
        message = in_language(N_("hidden check: {message}"), lang).format(message=message)
    if raised is not None:
        message = in_language(N_("{message} (your answer cell raised {error})"), lang).format(
            message=message, error=render(raised, lang))
    return message


def locked_message(edited: int, lang: str) -> str:
    """The ``locked_cells`` column: were the submission's locked cells left as released?"""
    if not edited:
        return in_language(N_("as released"), lang)
    return in_language(N_("{count} locked cell(s) edited or deleted: graded with the instructor's cells"),
                       lang).format(count=edited)
