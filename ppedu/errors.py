"""Errors users see. A UsageError is bad input: the CLI prints its message on one line and exits 2."""

from __future__ import annotations

from typing import Iterable

from ppedu.i18n.catalog import _


class UsageError(ValueError):
    """Bad input from a user (CLI flag, widget value, hand-written schedule).

    The message names the parameter, the valid range and the value received, e.g.
    ``p must be an integer in 1..8 (got 0)``.
    """


class ClusterError(RuntimeError):
    """A job failed on the worker group: a rank raised, died, or hung past its timeout."""

    def __init__(self, message: str, rank: int | None = None, job: str | None = None,
                 remote_traceback: str | None = None):
        super().__init__(message)
        self.rank = rank
        self.job = job
        self.remote_traceback = remote_traceback


def check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    """Return ``value`` as an int if ``lo <= value <= hi``, else raise a UsageError naming the range."""
    rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
    try:
        ok = int(value) == value
    except (TypeError, ValueError):
        ok = False
    if not ok or isinstance(value, bool):
        raise UsageError(_("{name} must be an integer in {range} (got {value})").format(
            name=name, range=rng, value=repr(value)))
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        raise UsageError(_("{name} must be an integer in {range} (got {value})").format(
            name=name, range=rng, value=value))
    return value


def check_float(name: str, value, lo: float, hi: float | None = None) -> float:
    """Return ``value`` as a float if ``lo <= value <= hi``, else raise a UsageError naming the range."""
    rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise UsageError(_("{name} must be a number in {range} (got {value})").format(
            name=name, range=rng, value=repr(value))) from None
    if not (value >= lo and (hi is None or value <= hi)):  # also rejects NaN
        raise UsageError(_("{name} must be a number in {range} (got {value})").format(
            name=name, range=rng, value=value))
    return value


def check_choice(name: str, value: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a UsageError listing them."""
    choices = list(choices)
    if value not in choices:
        raise UsageError(_("{name} must be one of {choices} (got {value})").format(
            name=name, choices=", ".join(map(str, choices)), value=repr(value)))
    return value


def check_names(what: str, given: Iterable[str], allowed: Iterable[str]) -> None:
    """Raise a UsageError naming each of ``given`` (settings passed by name to ``what``, e.g. a
    panel's values) that is not in ``allowed``, and listing ``allowed`` in its order."""
    allowed = list(allowed)
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise UsageError(_("{what}: unknown setting(s) {unknown}; use {known}").format(
            what=what, unknown=", ".join(unknown), known=", ".join(allowed)))
