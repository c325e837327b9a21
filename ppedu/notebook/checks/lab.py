"""Checks for chapter 6 (build your pipeline) beyond ``ppedu.lab.grade``'s own verdicts.

A wrong prediction gets a hint for that field and variant, never the measured value: the student
looks at the measurement after predicting (the notebook's next cells), not in the check's message.
"""

from __future__ import annotations

from typing import Any, Mapping

from ppedu.lab.diagnose import NOT_WRITTEN, RUN_AGAIN
from ppedu.notebook.grading import OK, grader
from ppedu.i18n.messages import N_, _

_DIRECTIONS = ("up", "same", "down")
FORMAT = ('prediction = {"more": {"bubble": "up" | "same" | "down", "peak_rank0": <int>, '
          '"correct": True | False}, "less": {...}}')
_HINTS = {
    ("bubble", "more"): N_("with one warm-up forward more, the first backward of each rank starts later: "
                           "does any rank end up waiting longer for work than under 1F1B?"),
    ("bubble", "less"): N_("with one warm-up forward fewer, the first backward of each rank starts earlier: "
                           "what does the rank then wait for before its next forward can run?"),
    ("peak_rank0", None): N_("count the micro-batches rank 0 has run forward but not yet backward, at the "
                             "moment just before its first backward frees one (the warm-up is clamped to 0..m)."),
    ("correct", None): N_("does the warm-up change which gradient meets which activations, or only when "
                          "each call runs?"),
}


def _truth(study: Any, name: str) -> dict:
    base, mine = study.simulated_bubble["1f1b"], study.simulated_bubble[name]
    direction = "same" if abs(mine - base) < 0.02 else ("up" if mine > base else "down")
    diff = study.grad_max_abs_diff[name]
    return {"bubble": direction, "peak_rank0": study.timed[name].peak_activations[0],
            "correct": diff is not None and diff <= 1e-5}


def _failed(name: str, why: str) -> str:
    if why in (NOT_WRITTEN, _(NOT_WRITTEN)):
        return _("one_f_one_b is not written yet: write your loop in place of the `raise` line, then run "
                 "the study again.")
    why = why.replace(RUN_AGAIN, "").replace(_(RUN_AGAIN), "").replace("Your train_step failed: ", "")
    why = why.replace(_("Your train_step failed: "), "")
    return _("variant {name!r} did not run through: {why} Fix one_f_one_b, then run the study again.").format(
        name=name, why=why)


@grader
def check_warmup_prediction(prediction: Mapping[str, Mapping[str, Any]], study: Any) -> None:
    """``prediction[name] = {"bubble": "up"|"same"|"down", "peak_rank0": int, "correct": bool}``
    for each variant of ``study`` (``ppedu.lab.warmup.warmup_study``), against what was measured."""
    for name, why in study.failures.items():
        raise AssertionError(_failed(name, why))
    names = [n for n in study.timed if n != "1f1b"]
    if not isinstance(prediction, Mapping) or set(prediction) != set(names):
        raise AssertionError(_("prediction must be a dict with one entry per variant {names}: {format} (got {prediction!r})").format(names=names, format=FORMAT, prediction=sorted(prediction) if isinstance(prediction, Mapping) else prediction))
    for name in names:
        guess, truth = prediction[name], _truth(study, name)
        if not isinstance(guess, Mapping) or set(guess) != set(truth):
            raise AssertionError(_("prediction[{name!r}] must have the keys {truth}: {format} (got {guess!r})").format(name=name, truth=sorted(truth), format=FORMAT, guess=guess))
        _check_types(name, guess)
        for key, want in truth.items():
            if guess[key] != want:
                hint = _HINTS.get((key, name), _HINTS.get((key, None), ""))
                raise AssertionError(_("{name}: your prediction {key} = {guess!r} is not what the run shows. Hint: {hint}").format(name=name, key=key, guess=guess[key], hint=_(hint)))
    print(_("{ok} your predictions match the measurements for {names}").format(ok=OK, names=', '.join(names)))


def _check_types(name: str, guess: Mapping[str, Any]) -> None:
    if guess["bubble"] not in _DIRECTIONS:
        raise AssertionError(_("prediction[{name!r}]['bubble'] must be one of {directions} (got {bubble!r})").format(name=name, directions=_DIRECTIONS, bubble=guess['bubble']))
    if not isinstance(guess["peak_rank0"], int) or isinstance(guess["peak_rank0"], bool):
        raise AssertionError(_("prediction[{name!r}]['peak_rank0'] must be a whole number of micro-batches (got {peak_rank0!r})").format(name=name, peak_rank0=guess['peak_rank0']))
    if not isinstance(guess["correct"], bool):
        raise AssertionError(_("prediction[{name!r}]['correct'] must be True or False (got {correct!r})").format(name=name, correct=guess['correct']))


@grader
def check_verdict(verdict: Any) -> None:
    """Show a ``ppedu.lab.grade`` verdict once: its ✓ line, or an AssertionError with its message
    (shown as one short message by ``@grader``, not a print followed by the same assert)."""
    if not hasattr(verdict, "ok") or not hasattr(verdict, "message"):
        raise AssertionError(_("pass what ppedu.lab.grade returned (got {type})").format(type=type(verdict).__name__))
    if not verdict.ok:
        raise AssertionError(verdict.message)
    print(f"{OK} {verdict.message}")
