"""Checks for the exercise cells of the serving chapter (05; the decode bubble also in 02), with the
contract of ``ppedu.notebook.grading.grader``: print a ✓ line, or raise an AssertionError with a
hint, or a one-line UsageError for input that cannot be graded. Torch-free: it imports the standard
library and ppedu's errors, grading and ``schedules.theory`` only."""

from __future__ import annotations

from typing import Any, Mapping

from ppedu.errors import check_int
from ppedu.notebook.grading import OK, grader
from ppedu.schedules.theory import theory_decode_bubble
from ppedu.i18n.messages import _



def _get(obj: Any, key: str) -> Any:
    return obj[key] if isinstance(obj, Mapping) else getattr(obj, key)


def _rows(results: Any) -> dict[str, Any]:
    if isinstance(results, Mapping) and "policy" not in results:
        return dict(results)
    rows = [results] if isinstance(results, Mapping) else list(results)
    return {str(_get(r, "policy")): r for r in rows}


@grader
def check_policy_choice(choice: str | None, results: Any, target_s: float,
                        metric: str = "e2e_p99_s") -> None:
    """Is ``choice`` the policy with the highest ``throughput_tok_s`` among those whose
    ``metric`` (default p99 end-to-end latency, seconds) meets ``target_s``?

    ``results``: ``ppedu serve-bench --json`` objects (a list, or a dict keyed by policy).
    ``choice=None`` means "no policy meets the target".
    """
    rows = _rows(results)
    ok = {name: r for name, r in rows.items() if float(_get(r, metric)) <= target_s}
    best = max(ok, key=lambda n: float(_get(ok[n], "throughput_tok_s"))) if ok else None
    table = "; ".join(f"{n}: {float(_get(r, 'throughput_tok_s')):.0f} tok/s, {metric} "
                      f"{float(_get(r, metric)):.3f} s" for n, r in rows.items())
    if choice == best:
        print(_("{ok} {choice}: the highest throughput that meets {metric} <= {target_s:g} s ({table}).").format(ok=OK, choice=choice, metric=metric, target_s=target_s, table=table))
        return
    if choice is not None and choice not in rows:
        raise AssertionError(_("Choose one of {rows} (got {choice!r}).").format(rows=', '.join(rows), choice=choice))
    if choice is not None and choice not in ok:
        raise AssertionError(_("{choice} misses the target: {metric} = {value:.3f} s > {target_s:g} s. ({table})").format(choice=choice, metric=metric, value=float(_get(rows[choice], metric)), target_s=target_s, table=table))
    if best is None:
        raise AssertionError(_("No policy meets {metric} <= {target_s:g} s; answer None. ({table})").format(metric=metric, target_s=target_s, table=table))
    raise AssertionError(_("{choice} meets the target, but {best} does too with more throughput. ({table})").format(choice=choice, best=best, table=table) if choice else _("{best} meets the target. ({table})").format(best=best, table=table))


@grader
def check_decode_bubble(answer: float, p: int, inflight: int, tol: float = 0.02) -> None:
    """Predicted decode-phase bubble with ``inflight`` batches circulating through ``p`` stages:
    (p - K)/p for K <= p (each stage busy K of every p slots), 0 once K >= p."""
    p = check_int("p", p, 1, 64)
    inflight = check_int("inflight K", inflight, 1, 1024)
    want = theory_decode_bubble(p, inflight)
    if not isinstance(answer, (int, float)) or abs(answer - want) > tol:
        raise AssertionError(_("With p={p} and K={inflight} you predict {answer!r}. Hint: a token must cross all p stages before the next decode step of the same batch can start; how many of the p stages have a batch at any time?").format(p=p, inflight=inflight, answer=answer))
    print(_("{ok} decode bubble for p={p}, K={inflight}: {want:.3f}.").format(ok=OK, p=p, inflight=inflight, want=want))
