"""Checks for chapter 6 (build your pipeline) beyond ``ppedu.lab.grade``'s own verdicts."""

from __future__ import annotations

from typing import Any, Mapping

from ppedu.notebook.grading import grader

OK = "\u2713"
_DIRECTIONS = ("up", "same", "down")


def _truth(study: Any, name: str) -> dict:
    base, mine = study.simulated_bubble["1f1b"], study.simulated_bubble[name]
    direction = "same" if abs(mine - base) < 0.02 else ("up" if mine > base else "down")
    diff = study.grad_max_abs_diff[name]
    return {"bubble": direction, "peak_rank0": study.timed[name].peak_activations[0],
            "correct": diff is not None and diff <= 1e-5}


@grader
def check_warmup_prediction(prediction: Mapping[str, Mapping[str, Any]], study: Any) -> None:
    """``prediction[name] = {"bubble": "up"|"same"|"down", "peak_rank0": int, "correct": bool}``
    for each variant of ``study`` (``ppedu.lab.warmup.warmup_study``), against what was measured."""
    for name, why in study.failures.items():
        raise AssertionError(f"variant {name!r} did not run through: {why}. Fix it first.")
    names = [n for n in study.timed if n != "1f1b"]
    if not isinstance(prediction, Mapping) or set(prediction) != set(names):
        raise AssertionError(f"prediction must be a dict with one entry per variant {names} "
                             f"(got {sorted(prediction) if isinstance(prediction, Mapping) else prediction!r})")
    for name in names:
        guess, truth = prediction[name], _truth(study, name)
        if not isinstance(guess, Mapping) or set(guess) != set(truth):
            raise AssertionError(f"prediction[{name!r}] must have the keys {sorted(truth)} (got {guess!r})")
        if guess["bubble"] not in _DIRECTIONS:
            raise AssertionError(f"prediction[{name!r}]['bubble'] must be one of {_DIRECTIONS}")
        for key, want in truth.items():
            if guess[key] != want:
                raise AssertionError(
                    f"{name}: you predicted {key} = {guess[key]!r}, the run says {want!r} (1F1B's bubble "
                    f"{study.simulated_bubble['1f1b']:.3f}, this one's {study.simulated_bubble[name]:.3f} "
                    "on an ideal machine). Hint: on which rank does the first backward start later, "
                    "and does any rank hold a micro-batch longer?")
    print(f"{OK} your predictions match the measurements for {', '.join(names)}")


@grader
def check_verdict(verdict: Any) -> None:
    """Show a ``ppedu.lab.grade`` verdict once: its ✓ line, or an AssertionError with its message
    (shown as one short message by ``@grader``, not a print followed by the same assert)."""
    if not hasattr(verdict, "ok") or not hasattr(verdict, "message"):
        raise AssertionError(f"pass what ppedu.lab.grade returned (got {type(verdict).__name__})")
    if not verdict.ok:
        raise AssertionError(verdict.message)
    print(f"{OK} {verdict.message}")
