"""What `ppedu grade` runs inside the two kernels of a grading run (cf. ``ppedu.instructor.autograde.grade``).

The *answer* kernel runs the submission's answer cells among the instructor's cells; after each
answer cell, ``export`` sends the names the instructor's answer cell defines, by value (cloudpickle,
as the lab ships ``train_step`` to its ranks), to a file. The *check* kernel runs the instructor's
notebook with every answer cell replaced by ``load``: the checks see the student's functions and
values, never the student's cell, so whatever that cell patched (ppedu's checkers, ``builtins``)
stayed in the other process. A missing or unpicklable name becomes a ``Blank`` that says why (in
the kernel's language), and ``load`` records why by key (``feedback.REASONS``) in
``key.missing.json``, which ``ppedu grade`` reads: the grader never parses the Blank's words.
``verify`` runs after every cell of the check kernel once an answer is loaded: a student's function
that patches ppedu's code, ``builtins``, ``math`` or ``operator`` *while it is called* fails the check.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

from ppedu import unanswered
from ppedu.i18n.catalog import _
from ppedu.instructor.autograde.feedback import REASONS
from ppedu.unanswered import Blank

_BASE: dict[str, dict] = {}
_SWAPPED = ("input", "raw_input", "getpass", "_")


def export(key: str, names: list[str], namespace: dict, folder: str) -> None:
    """Answer kernel: write ``names`` of ``namespace`` (by value) to ``folder/key.json``."""
    import cloudpickle

    out: dict[str, list[str]] = {}
    for name in names:
        if name not in namespace:
            out[name] = ["missing", "undefined", ""]
            continue
        try:
            out[name] = ["value", base64.b64encode(cloudpickle.dumps(namespace[name])).decode()]
        except Exception as exc:  # noqa: BLE001 - e.g. an open file: that answer cannot be graded
            out[name] = ["missing", "unsendable", type(exc).__name__]
    Path(folder, f"{key}.json").write_text(json.dumps(out), encoding="utf-8")


def load(key: str, label: str, names: list[str], folder: str) -> dict[str, Any]:
    """Check kernel: the answers ``export`` wrote (a ``Blank`` saying why for each one missing; the
    reasons, by key, also go to ``folder/key.missing.json`` for the grader)."""
    import cloudpickle

    path = Path(folder, f"{key}.json")
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    found: dict[str, Any] = {}
    missing: dict[str, list[str]] = {}
    for name in names:
        kind, *payload = data.get(name, ["missing", "unfinished", ""])
        if kind == "value":
            try:
                found[name] = cloudpickle.loads(base64.b64decode(payload[0]))
                continue
            except Exception as exc:  # noqa: BLE001
                payload = ["unloadable", type(exc).__name__]
        missing[name] = payload
        found[name] = Blank(label, _(REASONS[payload[0]]).format(name=name, error=payload[1]))
    if missing:
        Path(folder, f"{key}.missing.json").write_text(json.dumps(missing), encoding="utf-8")
    return found


class CheckingCodeChanged(AssertionError):
    """``verify``'s verdict: the answer patched ppedu's code, builtins, math or operator."""


def _ident(value: Any) -> tuple:
    code = getattr(value, "__code__", None)
    return id(value), id(code) if code is not None else None


def _prints(module: Any) -> dict[str, tuple]:
    """Identity of every function and class member a module holds (and the grading flag)."""
    out: dict[str, tuple] = {}
    for name, value in list(vars(module).items()):
        if isinstance(value, type) and value.__module__ == module.__name__:
            for member, attr in list(vars(value).items()):
                if callable(attr) or isinstance(attr, (staticmethod, classmethod, property)):
                    out[f"{name}.{member}"] = _ident(attr)
        if callable(value):
            out[name] = _ident(value)
    if module.__name__ == "ppedu.unanswered":
        out["GRADING"] = (module.GRADING,)
    return out


def _watched() -> dict[str, dict]:
    """What ``verify`` compares: ppedu's modules, builtins, math, operator, and the shell's hooks
    that turn an exception into an error output."""
    import builtins
    import math
    import operator
    modules = {n: m for n, m in list(sys.modules.items())
               if m is not None and (n == "ppedu" or n.startswith("ppedu."))}
    modules.update(builtins=builtins, math=math, operator=operator)
    found = {name: _prints(module) for name, module in modules.items()}
    for swapped in _SWAPPED:              # the kernel itself swaps these per cell
        found["builtins"].pop(swapped, None)
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:   # bound methods compare equal while function and shell are the same
        found["<shell>"] = {"showtraceback": (shell.showtraceback,),
                            "_showtraceback": (shell._showtraceback,), "excepthook": (sys.excepthook,)}
    return found


def fingerprint() -> None:
    """Take the first fingerprint of every watched module not seen yet: the check run calls it in
    each loader cell, right after the answers are loaded and before a check calls any of them (so
    a function that patches while the first check calls it is caught too)."""
    for name, now in _watched().items():
        _BASE.setdefault(name, now)


def verify() -> None:
    """Raise AssertionError naming what changed in the watched modules since first seen."""
    changed: list[str] = []
    for name, now in _watched().items():
        before = _BASE.setdefault(name, now)
        changed += [f"{name}.{k}" for k, v in before.items() if now.get(k) != v]
    if changed:
        raise CheckingCodeChanged(_("the answer changed the checking code: {names}").format(
            names=", ".join(changed[:3])))


def verify_lab() -> None:
    """``verify`` on a lab rank, the lab's modules loaded first (so their first fingerprint is
    taken before any student's step ran there)."""
    # torch: the lab's modules load on a lab rank only, not in every grading kernel that imports this
    import ppedu.lab.job  # noqa: F401
    import ppedu.lab.stage  # noqa: F401
    verify()


unanswered.check_ranks_with(verify_lab)   # the lab runs it on its ranks under `ppedu grade`
