"""Builders for schedules with several model chunks (virtual stages) per rank.

    interleaved      Megatron interleaved 1F1B, depth-first (Narayanan et al. SC'21, sec. 2.2)
    looped-bfs       breadth-first pipeline (Lamy-Poirier 2022, arXiv 2211.05953)
    interleaved-zb   interleaved zero bubble, torch's ZB1P (Qi et al. 2024, arXiv 2401.10241; the
                     authors, DualPipe and DeepSeek-V3 call the non-interleaved ZB-H1 "ZB1P")
    zbv              ZB-V (Qi et al., arXiv version sec. 6): two chunks per rank in a V
    dualpipev        DualPipeV (DeepSeek-V3's DualPipe cut to one direction, arXiv 2412.19437)

Each reproduces the per-rank compute order of torch.distributed.pipelining 2.13's class of the
same name (``_calculate_single_rank_operations``), which tests/schedules/test_schedules.py checks.
"""

from __future__ import annotations

from collections import defaultdict

from ppedu.errors import UsageError
from ppedu.i18n.catalog import _
from ppedu.schedules.actions import Action


def defer_weights(actions: list[Action], may_defer: int) -> list[Action]:
    """Split every backward into B (input gradient) and W (weight gradient), keeping at most
    ``may_defer`` W's pending; the rest run at the end, where the pipeline would sit idle.
    (torch's ``_get_1f1b_rank_ops(..., enable_zero_bubble=True)`` uses the same rule.)"""
    pending: list[Action] = []
    out: list[Action] = []
    for a in actions:
        out.append(a)
        if a.kind == "B":
            pending.append(Action("W", a.mb, a.chunk))
            if len(pending) > may_defer:
                out.append(pending.pop(0))
    return out + pending


def per_round(name: str, p: int, m: int) -> int:
    """Micro-batches per round: torch runs ``max(1, m // p)`` rounds and needs m to split into
    them evenly (Megatron needs m % p == 0, i.e. rounds of exactly p)."""
    rounds = max(1, m // p)
    if m % rounds:
        raise UsageError(_("m must be a multiple of max(1, m // p) = {rounds} for {name} (torch's rounds rule; "
                           "got m={m}, p={p})").format(rounds=rounds, name=name, m=m, p=p))
    return m // rounds


def _chunked_1f1b(p: int, m: int, v: int, rank: int, per_hop: int, name: str) -> list[Action]:
    """Depth-first interleaving: forwards go in rounds of R micro-batches per chunk (chunk 0
    for mb 0..R-1, chunk 1 for the same mbs, ..., then the next R), backwards walk the chunks
    in reverse. Warm-up is (v-1)R + per_hop * (p-r-1) forwards, then one F one B."""
    size, total = per_round(name, p, m), m * v

    def action(k: int, kind: str) -> Action:
        chunk = (k // size) % v
        mb = (k // (size * v)) * size + k % size
        return Action(kind, mb, v - 1 - chunk if kind == "B" else chunk)

    warmup = min(per_hop * (p - rank - 1) + (v - 1) * size, total)
    actions = [action(k, "F") for k in range(warmup)]
    for k in range(total - warmup):
        actions += [action(warmup + k, "F"), action(k, "B")]
    return actions + [action(k, "B") for k in range(total - warmup, total)]


def interleaved_rank(p: int, m: int, v: int, rank: int) -> list[Action]:
    """Megatron interleaved 1F1B (Megatron-LM ``forward_backward_pipelining_with_interleaving``,
    torch ``ScheduleInterleaved1F1B``): two forwards of warm-up per hop to the last rank, because
    a backward takes a round trip (forward there, backward back) before it reaches this rank."""
    return _chunked_1f1b(p, m, v, rank, per_hop=2, name="interleaved")


def interleaved_zb_rank(p: int, m: int, v: int, rank: int) -> list[Action]:
    """ZB1P (torch ``ScheduleInterleavedZeroBubble``): interleaved with one forward of warm-up per
    hop and backward split, rank r deferring up to r weight gradients, as ZB-H1 does."""
    return defer_weights(_chunked_1f1b(p, m, v, rank, per_hop=1, name="interleaved-zb"), rank)


def looped_bfs_rank(p: int, m: int, v: int, rank: int) -> list[Action]:
    """Breadth-first (torch ``ScheduleLoopedBFS``): every micro-batch through chunk 0, then chunk
    1, ...; backwards the same way in reverse, last micro-batch first. GPipe per chunk: the
    bubble of interleaving, but every micro-batch's activations on every chunk held at once."""
    forwards = [Action("F", mb, c) for c in range(v) for mb in range(m)]
    return forwards + [Action("B", mb, c) for c in reversed(range(v)) for mb in reversed(range(m))]


class _Counters:
    """Next micro-batch per (chunk, kind), as torch's schedule generators count them."""

    def __init__(self):
        self.next: dict[tuple[int, str], int] = defaultdict(int)
        self.weights: list[Action] = []   # split backwards whose W has not run, oldest first

    def take(self, kind: str, chunk: int, split: bool = False) -> Action:
        mb = self.next[chunk, kind]
        self.next[chunk, kind] += 1
        if kind == "B" and split:
            self.weights.append(Action("W", mb, chunk))
        return Action(kind, mb, chunk)

    def weight(self) -> list[Action]:
        return [self.weights.pop(0)] if self.weights else []


def zbv_rank(p: int, m: int, v: int, rank: int) -> list[Action]:
    """ZB-V (torch ``ScheduleZBVZeroBubble``). Chunk 0 is stage r, chunk 1 is stage 2p-1-r, so
    rank 0 runs the first and the last stage and a micro-batch's backward starts where its
    forward began. Warm-up fills the V (2(p-r)-1 forwards of chunk 0, then r pairs), then every
    F is followed by its B and W; the tail defers W's. Built for max(m, 2p-1) micro-batches and
    cut to m, as torch does."""
    n, c = max(2 * p - 1, m), _Counters()
    out = [c.take("F", 0) for _ in range(2 * (p - rank) - 1)]
    for _ in range(rank):
        out += [c.take("F", 1), c.take("F", 0)]
    for _ in range(p - rank):
        out += [c.take("F", 1), c.take("B", 1), Action("W", c.next[1, "B"] - 1, 1)]
    while c.next[1, "F"] < c.next[0, "F"] or c.next[0, "F"] < n:
        if c.next[0, "F"] < n:
            out.append(c.take("F", 0))
        out += [c.take("B", 0), Action("W", c.next[0, "B"] - 1, 0)]
        out += [c.take("F", 1), c.take("B", 1), Action("W", c.next[1, "B"] - 1, 1)]
    done_w = {0: c.next[0, "B"], 1: c.next[1, "B"]}
    for _ in range(rank):
        out += [c.take("B", 0), c.take("B", 1)]
    for _ in range(p - rank):
        out += [c.take("B", 0), Action("W", done_w[0], 0)]
        done_w[0] += 1
    out += [Action("W", mb, 1) for mb in range(done_w[1], c.next[1, "B"])]
    out += [Action("W", mb, 0) for mb in range(done_w[0], c.next[0, "B"])]
    return [a for a in out if a.mb < m]


def dualpipev_rank(p: int, m: int, v: int, rank: int) -> list[Action]:
    """DualPipeV (torch ``ScheduleDualPipeV``, from deepseek-ai/DualPipe). V placement as ZB-V.
    In the steady state a forward of one chunk is issued together with the backward of the
    other (``Action.overlap``): on a GPU one's compute hides the other's communication (in
    DeepSeek-V3, the expert all-to-all). The tail splits some backwards to fill the drain."""
    _check_dualpipev_m(m, p)
    c, out = _Counters(), []
    out += [c.take("F", 0) for _ in range(2 * (p - rank - 1))]
    for _ in range(rank + 1):
        out += [c.take("F", 0), c.take("F", 1)]
    for _ in range(p - rank - 1):
        out += [c.take("B", 1, split=True), *c.weight(), c.take("F", 1)]
    for i in range(m - 2 * p + rank + 1):
        if i == 0 and rank == p - 1:  # not overlapped: shortens the bubble (torch's note)
            out += [c.take("F", 0), c.take("B", 1)]
        else:
            out.append(Action.overlap(c.take("F", 0), c.take("B", 1)))
        out.append(Action.overlap(c.take("F", 1), c.take("B", 0)))
    for _ in range(p - rank - 1):
        out += [c.take("B", 1), Action.overlap(c.take("F", 1), c.take("B", 0))]
    split, half = False, (rank + 1) // 2
    for i in range(rank + 1):
        split = split or (i == half and rank % 2 == 1)
        out.append(c.take("B", 1, split))
        split = split or (i == half and rank % 2 == 0)
        out.append(c.take("B", 0, split))
    for _ in range(p - rank - 1):
        out += [*c.weight(), c.take("B", 0, split)]
    for _ in range(rank + 1):
        out += c.weight()
    return out


def _check_dualpipev_m(m: int, p: int) -> None:
    """DualPipeV needs at least 2p micro-batches (the builder's loops use ``_`` as a name)."""
    if m < 2 * p:
        raise UsageError(_("m must be an integer in {lo}..1024 for dualpipev (at least 2p, the number of stages; "
                           "got m={m}, p={p})").format(lo=2 * p, m=m, p=p))
