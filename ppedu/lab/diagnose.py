"""Turn what the ranks reported into plain words: who waited for what, where the order left the
schedule, and which bug the gradients point to.

Gradients are diagnosed by writing each rank's gradient G as a combination of the single-process
model's per-micro-batch gradients g_0 .. g_{m-1} (least squares): a correct step gives
G = (1/m) sum g_k, a missing 1/m gives coefficients 1, a lost micro-batch a coefficient 0, one
counted twice 2/m, and a gradient applied to another micro-batch's activations fits no combination.
"""

from __future__ import annotations

import torch

from ppedu.lab.job import LabReport
from ppedu.lab.stage import call_name
from ppedu.schedules.actions import Action, Schedule
from ppedu.schedules import build_schedule
from ppedu.i18n.messages import N_, _

SCHEDULE_OF = {"afab": "gpipe", "1f1b": "1f1b", "interleaved": "interleaved"}
TITLE = {"afab": "AFAB (GPipe)", "1f1b": "1F1B", "interleaved": N_("interleaved 1F1B")}
GRAD_TOL = 1e-5
_PAIR = {"recv_forward": "send_forward", "recv_backward": "send_backward",
         "send_forward": "recv_forward", "send_backward": "recv_backward"}


def compute_order(report: LabReport) -> list[Action]:
    """The rank's forward/backward calls as schedule actions (F0, B0, F1c1, ...)."""
    kinds = {"forward": "F", "backward": "B"}
    return [Action(kinds[n], mb, c) for n, mb, c in report.calls if n in kinds]


def _fmt(actions: list[Action], v: int = 1, upto: int = 12) -> str:
    text = " ".join(_label(a, v) for a in actions[:upto])
    return text + (" ..." if len(actions) > upto else "")


def _label(action: Action, v: int) -> str:
    """``F2``; with several chunks always ``F2c0`` / ``F2c1``, so no call goes unlabelled."""
    return action.label() + ("c0" if v > 1 and action.chunk == 0 and not action.parts else "")


def _spelled(action: Action) -> str:
    """``F2c1 = forward of micro-batch 2 on chunk 1``: the notation, explained where it is shown."""
    kind = {"F": _("forward"), "B": _("backward"), "W": _("weight gradient")}.get(action.kind, action.kind)
    return _("{label} = {kind} of micro-batch {mb} on chunk {chunk}").format(
        label=_label(action, 2), kind=kind, mb=action.mb, chunk=action.chunk)


def order_difference(schedule: str, built: Schedule, orders: list[list[Action]]) -> str | None:
    """None when every rank ran the order of ``built`` (the lab's ``schedule``, as the spec built
    it), else the first difference explained. Only the schedule's order up to that difference is
    shown: the rest is the exercise."""
    v = built.v
    for rank, (got, expected) in enumerate(zip(orders, built.ranks)):
        if got == expected:
            continue
        i = next((k for k, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        ran = _label(got[i], v) if i < len(got) else _("missing (the rank stopped before it)")
        should = _label(expected[i], v) if i < len(expected) else _("nothing (the step is over)")
        text = _("rank {rank}'s compute call #{i} is {ran} but {title} runs {should} there").format(rank=rank, i=i + 1, ran=ran, title=_(TITLE[schedule]), should=should)
        if v > 1:
            text += f" ({_spelled(got[i] if i < len(got) else expected[i])})"
        if i:
            text += _("; the calls before it match ({fmt})").format(fmt=_fmt(expected[:i], v, upto=8))
        return text + _which_schedule(schedule, built, rank, got, expected, i)
    return None


def leading_forwards(actions: list[Action]) -> int:
    """Forwards before the rank's first backward (all of them when it runs no backward)."""
    return next((k for k, a in enumerate(actions) if a.kind != "F"), len(actions))


def _which_schedule(schedule: str, built: Schedule, rank: int, got: list[Action], expected: list[Action],
                    i: int) -> str:
    """Recognise a well-known mistake: the other schedule, or another warm-up (counted like with
    like: forwards before the first backward, yours and the schedule's)."""
    p, m, v = built.p, built.m, built.v
    if v == 1 and schedule == "1f1b" and got == build_schedule("gpipe", p, m).ranks[rank]:
        return (_(". This is AFAB (GPipe): every forward, then every backward. 1F1B starts the backwards after a warm-up of p - rank - 1 = {warmup} forward(s) on rank {rank}").format(warmup=p - rank - 1, rank=rank))
    if v == 1 and schedule == "afab" and got == build_schedule("1f1b", p, m).ranks[rank]:
        return _(". This is 1F1B; the exercise asks for AFAB: all m forwards first, then all m backwards")
    mine, theirs = leading_forwards(got), leading_forwards(expected)
    if schedule == "afab" or mine == theirs or not any(a.kind == "B" for a in got):
        return ""
    warm = (min(p - rank - 1, m), "min(p - rank - 1, m)") if v == 1 else \
        (min(2 * (p - rank - 1) + (v - 1) * p, m * v), "2(p - rank - 1) + (v - 1)p")
    if mine == sum(a.kind == "F" for a in got) and mine > theirs:
        return (_(". Rank {rank} runs every forward before its first backward, as AFAB does; {title} starts the backwards after a warm-up of {formula} = {warmup}").format(rank=rank, title=_(TITLE[schedule]), formula=warm[1], warmup=warm[0]))
    if i != min(mine, theirs):  # the orders part before either backward: not the warm-up's fault
        return ""
    return (_(". Rank {rank} runs {mine} forward(s) before its first backward where {title} runs {theirs}: a warm-up of {formula} = {warmup}").format(rank=rank, mine=mine, title=_(TITLE[schedule]), theirs=theirs, formula=warm[1], warmup=warm[0])
            + (_(", then the steady state's first forward") if theirs > warm[0] else "")
            + (_(". Your warm-up is {n} forward(s) too long") if mine > theirs
               else _(". Your warm-up is {n} forward(s) too short")).format(n=abs(mine - theirs)))


def chunks_ignored(reports: list[LabReport], v: int) -> str | None:
    """With several chunks per rank: a step that never passes ``chunk`` (a plain 1F1B)."""
    calls = [c for r in reports if r.status != "idle" for c in r.calls]
    if v < 2 or not calls or any(c[2] for c in calls):
        return None
    return _("Every call of your train_step went to chunk 0 (the default): the stages of chunk(s) {chunks} "
             "never ran, so the ranks ended up waiting for their messages. Interleaved 1F1B gives each "
             "rank stage.num_chunks = {v} chunks: pass the chunk to every call "
             "(stage.recv_forward(mb, chunk), stage.forward(mb, x, chunk), ...).").format(
        chunks=f"1..{v - 1}" if v > 2 else "1", v=v)


def _peer_chunk(name: str, chunk: int, rank: int, peer: int) -> int:
    """The chunk of the peer's matching call: the message crosses from chunk c of the last rank
    to chunk c + 1 of rank 0 (and back)."""
    if name in ("recv_forward", "send_backward"):    # the peer is the previous stage
        return chunk - 1 if peer > rank else chunk
    return chunk + 1 if peer < rank else chunk       # the peer is the next stage


def _peer_did(report: LabReport, name: str, mb: int, chunk: int) -> bool:
    return any(c == (name, mb, chunk) for c in report.calls)


NOT_WRITTEN = N_("Your train_step is not written yet (it raises NotImplementedError): write your loop "
                 "in place of the `raise` line, then run the cell again.")


RUN_AGAIN = N_(" The ranks gave up waiting; the cluster is still warm, so fix the loop and run again.")


def run_failure(reports: list[LabReport], deadlock_s: float, v: int = 1) -> str | None:
    """None when every rank finished its step; else who waited for what, and why nobody came.
    A rank's own error (raised, misused the stage) comes before the waits it caused."""
    reports = [r for r in reports if r.status != "idle"]
    if all(r.status == "ok" for r in reports):
        return None
    if any(r.status == "unanswered" for r in reports):
        return _(NOT_WRITTEN)
    waits, why = [], []
    for r in sorted(reports, key=lambda r: r.status == "stuck"):
        if r.status == "stuck":
            waits.append(_("rank {rank} waits in {detail}").format(rank=r.rank, detail=r.detail))
            why.extend(_explain_wait(r, reports, v))
        elif r.status == "misuse":
            waits.append(r.detail)
        elif r.status == "raised":
            waits.append(_("rank {rank} raised {detail}").format(rank=r.rank, detail=r.detail))
    stuck = [r for r in reports if r.status == "stuck"]
    if any(r.status in ("misuse", "raised") for r in reports):
        head = _("Your train_step failed: ")
    elif all(r.waited_s >= 0.9 * deadlock_s for r in stuck):
        head = _("Deadlock (nothing moved for {deadlock_s:.0f} s): ").format(deadlock_s=deadlock_s)
    else:  # a peer that finished its step closed the connection: the wait ended at once
        head = _("A rank waited for a message that can no longer come (its sender had finished the step): ")
    text = head + _("{waits}.").format(waits=_("; ").join(waits))
    if why:
        text += " " + " ".join(why)
    return text + _(RUN_AGAIN)


def _finished_loop(report: LabReport) -> bool:
    """The rank's train_step returned (it may still wait for its sends to be received)."""
    return report.status == "ok" or (report.status == "stuck" and report.waits_on[0].startswith("send"))


def _explain_wait(r: LabReport, reports: list[LabReport], v: int) -> list[str]:
    """The root cause behind one wait, if this wait is one (a chain of waits is explained once)."""
    name, mb, chunk, peer = r.waits_on  # e.g. ("recv_backward", 0, 0, 1)
    other, partner = reports[peer], _PAIR[name]
    their_chunk = _peer_chunk(name, chunk, r.rank, peer)
    partner_call = call_name(partner, mb, their_chunk, v)
    if _peer_did(other, partner, mb, their_chunk):
        return []
    if name.startswith("send"):
        return [_("Rank {peer} never called {partner_call}: a message nobody receives.").format(peer=peer, partner_call=partner_call)] \
            if _finished_loop(other) else []
    if _finished_loop(other):
        return [_("Rank {peer} finished its step without ever calling {partner_call}: a send that never happens.").format(peer=peer, partner_call=partner_call)]
    if other.status == "stuck" and other.waits_on[3] == r.rank and r.rank < peer:
        return [_("Ranks {rank} and {peer} wait for each other: each receives before it sends (rank {peer} has not called {partner_call}).").format(rank=r.rank, peer=peer, partner_call=partner_call)]
    return []


def diagnose_gradients(rank_grads: list[dict], per_mb: list[dict], expected_names: list[list[str]],
                       m: int) -> tuple[str | None, float]:
    """(None or the likely bug, largest |pipeline - reference| over all parameters)."""
    worst, verdict = 0.0, None
    for rank in reversed(range(len(rank_grads))):  # gradients flow from the last rank to the first
        names = expected_names[rank]
        missing = [n for n in names if n not in rank_grads[rank]]
        if missing:
            verdict = verdict or (_("rank {rank} has no gradient for {name} and others: did its backward run?")
                                  if len(missing) > 1 else
                                  _("rank {rank} has no gradient for {name}: did its backward run?")).format(
                rank=rank, name=missing[0])
            worst = float("inf")
            continue
        got = torch.cat([rank_grads[rank][n].flatten() for n in names]).double()
        basis = torch.stack([torch.cat([g[n].flatten() for n in names]) for g in per_mb], 1).double()
        diff = float((got - basis.mean(1)).abs().max())
        worst = max(worst, diff)
        if diff > GRAD_TOL and verdict is None:
            verdict = _("rank {rank}'s gradients differ from the single-process model by up to {diff:.2g}: ").format(rank=rank, diff=diff) \
                      + _likely_bug(got, basis, m)
    return verdict, worst


def _likely_bug(got: torch.Tensor, basis: torch.Tensor, m: int) -> str:
    coef = torch.linalg.lstsq(basis, got[:, None]).solution[:, 0]
    residual = float((basis @ coef - got).norm() / got.norm().clamp_min(1e-30))
    if residual > 1e-3:
        return (_("they are no combination of micro-batch gradients, so a gradient was applied to "
                "another micro-batch's activations (backward(mb, g) must get the g received for mb)"))
    scaled = coef * m  # 1 for every micro-batch when the step is right
    if torch.allclose(scaled, torch.full_like(scaled, float(m)), rtol=1e-3, atol=1e-3):
        return (_("they are {m} = m times too large: the loss gradient was not scaled by 1/m (on the last stage call backward(mb, None): the stage scales by 1/m)").format(m=m))
    lost = [k for k, c in enumerate(scaled.tolist()) if abs(c) < 1e-3]
    if lost:
        return (_("micro-batch(es) {lost} contribute nothing: their backward never ran or their gradient was never sent").format(lost=lost))
    twice = [k for k, c in enumerate(scaled.tolist()) if abs(c - 2) < 1e-3]
    if twice:
        return _("micro-batch(es) {twice} count twice: their backward ran more than once").format(twice=twice)
    return _("each micro-batch k counts {counts} times (1 expected)").format(
        counts=", ".join(f"{c:.2f}" for c in scaled.tolist()))
