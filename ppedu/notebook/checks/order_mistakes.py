"""Name the mistake in one rank's hand-written order (notebook 04, exercise 1) before the validator's
verdict: a GPipe order, a backward of the wrong micro-batch, a warm-up too long or too short are
different bugs and get different words. No message states the reference's warm-up count: the
exercise asks for it.
"""

from __future__ import annotations

from typing import Any
from ppedu.i18n.messages import _

TITLES = {"1f1b": "1F1B", "gpipe": "GPipe"}


def order_mistake(student: list[Any], reference: list[Any], rank: int, schedule: str) -> str | None:
    """The first mistake of ``student`` against ``reference`` (one rank's actions), in words, or
    None when none of the known mistakes explains the difference."""
    name = TITLES.get(schedule, schedule)
    for check in (_gpipe_order, _oldest_first, _each_once, _forward_order, _warmup):
        try:
            found = check(student, reference, rank, name)
        except (TypeError, ValueError):  # an order too odd to name (the validator still explains it)
            return None
        if found:
            return found
    return None


def _each_once(student, reference, rank, name) -> str | None:
    for kind in ("F", "B"):
        want = sorted(a.mb for a in reference if a.kind == kind)
        got = [a.mb for a in student if a.kind == kind]
        twice = sorted({mb for mb in got if got.count(mb) > 1})
        missing = sorted(set(want) - set(got))
        if twice or missing:
            parts = ([_("{kind}{mb} appears {count} times").format(kind=kind, mb=twice[0], count=got.count(twice[0]))] if twice else []) + \
                    ([_("{kind}{mb} is missing").format(kind=kind, mb=missing[0])] if missing else [])
            return (_("GPU{rank}'s order: {parts}. Each micro-batch 0..{max} runs one forward and one backward on every GPU.").format(rank=rank, parts=_(' and ').join(parts), max=max(want)))
    return None


def _forward_order(student, reference, rank, name) -> str | None:
    got = [a.mb for a in student if a.kind == "F"]
    if got != sorted(got):
        return (_("GPU{rank} runs its forwards in the order {order}{more}; the micro-batches arrive from GPU{previous} in order 0, 1, 2, ..., and every schedule here runs them in that order.").format(rank=rank, order=' '.join(f'F{k}' for k in got[:8]), more=' ...' if len(got) > 8 else '', previous=rank - 1 if rank else 0))
    return None


def _oldest_first(student, reference, rank, name) -> str | None:
    in_flight: list[int] = []
    previous = None
    for a in student:
        if a.kind == "F":
            in_flight.append(a.mb)
        elif a.kind == "B":
            if a.mb not in in_flight:
                return (_("GPU{rank} runs B{mb} with no F{mb} in flight before it: a backward needs the activations its forward saved, once.").format(rank=rank, mb=a.mb))
            oldest = min(in_flight)
            if a.mb != oldest:
                just = (_(" (the micro-batch it has just run forward)") if previous is not None and
                        previous.kind == "F" and previous.mb == a.mb else "")
                return (_("GPU{rank} runs B{mb}{just} while micro-batch {oldest} has been in flight longer: {name} runs the backward of the oldest micro-batch in flight first (first in, first out), and the gradients come back in micro-batch order.").format(rank=rank, mb=a.mb, just=just, oldest=oldest, name=name))
            in_flight.remove(a.mb)
        previous = a
    return None


def _leading(actions) -> int:
    return next((k for k, a in enumerate(actions) if a.kind != "F"), len(actions))


def _gpipe_order(student, reference, rank, name) -> str | None:
    forwards = sum(a.kind == "F" for a in student)
    if name != "GPipe" and _leading(student) == forwards > _leading(reference):
        return (_("GPU{rank} runs all {forwards} forwards before its first backward: that is GPipe's order (all forwards, then all backwards). {name} starts the backwards after a short warm-up and then alternates one forward and one backward, so that a GPU never holds more micro-batches than it must.").format(rank=rank, forwards=forwards, name=name))
    return None


def _warmup(student, reference, rank, name) -> str | None:
    mine, theirs = _leading(student), _leading(reference)
    if mine == theirs:
        return None
    if mine > theirs:
        return (_("GPU{rank} runs more forwards before its first backward than {name} does: its warm-up is too long. Hint: how many forwards must GPU{rank} have sent before the first gradient can come back from the GPUs after it? Any forward beyond that only holds activations longer.").format(rank=rank, name=name))
    return (_("GPU{rank} runs fewer forwards before its first backward than {name} does: its warm-up is too short. Hint: while GPU{rank} waits for its first gradient, the GPUs after it still need forwards from it to stay busy.").format(rank=rank, name=name))
