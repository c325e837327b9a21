"""Checks for the exercise cells of the tensor-parallel chapter (01), with the contract of
``ppedu.notebook.grading.grader``: print a ✓ line, or raise an AssertionError with a hint, or a
one-line UsageError for input that cannot be graded. Standard library only at import time."""

from __future__ import annotations

import math
from typing import Any, Mapping

from ppedu.errors import UsageError
from ppedu.i18n.messages import _
from ppedu.notebook.grading import OK, grader



def measured_field(measured: Any, *path: str) -> Any:
    """A field of ``compare_tp_pp``'s result, read by attribute, or of its JSON (``ppedu compare-tp-pp
    --json``, a dict): ``measured_field(m, "tp", "bytes")``. The JSON's ``layers`` is the result's
    ``config.n_layer``. UsageError when ``measured`` has no such field (it cannot be graded)."""
    value = measured
    for key in path:
        if isinstance(value, Mapping):
            found = key in value
            value = value.get(key)
        elif key == "layers" and hasattr(value, "config"):
            found, value = True, getattr(value.config, "n_layer", None)
        else:
            found = hasattr(value, key)
            value = getattr(value, key, None)
        if not found:
            raise UsageError(_("measured must be the result of compare_tp_pp (or its JSON); it has no "
                               "{field}").format(field=".".join(path)))
    return value


@grader
def check_tp_vs_pp_bytes(answer: str, measured: Any, ratio: float | None = None,
                         rtol: float = 0.05) -> None:
    """``answer`` is "tp" or "pp": which moved more bytes per step in ``measured``, the result of
    ``compare_tp_pp`` (``measured.tp.bytes`` and ``measured.pp.bytes``: bytes put on the wire by all
    ranks together) or the JSON of ``ppedu compare-tp-pp --json``.

    ``ratio`` (optional): the predicted bytes of the larger over the smaller, within ``rtol``."""
    choice = str(answer).strip().lower()
    if choice not in ("tp", "pp"):
        raise AssertionError(_("Answer 'tp' or 'pp' (got {answer!r}).").format(answer=answer))
    tp, pp = float(measured_field(measured, "tp", "bytes")), float(measured_field(measured, "pp", "bytes"))
    right = "tp" if tp > pp else "pp"
    if choice != right:
        raise AssertionError(_("Measured: TP moved {tp:,.0f} bytes, PP {pp:,.0f}. Hint: TP runs 4 all-reduces of a b x s x h tensor per layer; PP sends one activation and one gradient per stage border and micro-batch.").format(tp=tp, pp=pp))
    got = max(tp, pp) / max(min(tp, pp), 1.0)
    if ratio is not None and not math.isclose(float(ratio), got, rel_tol=rtol):
        raise AssertionError(_("{upper} is right, but it moved {got:.2f}x more bytes, not {ratio:.2f}x. Hint: the bytes count what all ranks put on the wire; a ring all-reduce of P bytes over n ranks sends 2(n-1)/n * P from every rank, i.e. 2(n-1) * P in total.").format(upper=right.upper(), got=got, ratio=float(ratio)))
    print(_("{ok} {upper} moved {got:.1f}x more bytes ({tp:,.0f} vs {pp:,.0f}).").format(ok=OK, upper=right.upper(), got=got, tp=tp, pp=pp))
