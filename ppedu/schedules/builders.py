"""The schedule builders: one function per schedule, returning one rank's ordered actions.

Single-stage schedules (one model chunk per rank) are here; the ones with several chunks per
rank (interleaved, looped BFS, interleaved zero bubble, ZB-V, DualPipeV) are in
``ppedu.schedules.builders_chunked``. ``build`` checks the arguments and assembles the Schedule.
Only ZB-H2 depends on the costs (``_zb2_ranks``): its order is the handcrafted one at
T_F = T_B = T_W and a list schedule for other costs, whichever is shorter.
"""

from __future__ import annotations

from collections.abc import Callable

from ppedu.errors import UsageError, check_choice, check_int
from ppedu.i18n.catalog import _
from ppedu.schedules.actions import MAX_M, MAX_P, MAX_TASKS, MAX_V, SCHEDULE_NAMES, Action, Schedule
from ppedu.schedules import builders_chunked as chunked
from ppedu.schedules import compiled
from ppedu.schedules.builders_chunked import defer_weights
from ppedu.schedules.greedy import list_schedule
from ppedu.schedules.theory import min_makespan_split

# name -> (chunks per rank: None = any v >= 2, else the only v; placement; split backward)
_SHAPE = {"naive": (1, "loop", False), "gpipe": (1, "loop", False), "1f1b": (1, "loop", False),
          "zb1": (1, "loop", True), "zb2": (1, "loop", True), "forward-only": (1, "loop", False),
          "interleaved": (None, "loop", False), "looped-bfs": (None, "loop", False),
          "interleaved-zb": (None, "loop", True), "zbv": (2, "v", True),
          "dualpipev": (2, "v", False)}


# schedules that run weight gradients as separate W actions (all or some of them)
WEIGHT_SPLIT = ("zb1", "zb2", "interleaved-zb", "zbv", "dualpipev")


def default_v(name: str) -> int:
    """Chunks per rank when the user gives none: 2 where a schedule needs several, else 1."""
    chunks = _SHAPE[name][0] if name in _SHAPE else 1
    return 2 if chunks in (None, 2) else 1


def fit_v(name: str, v: int) -> int:
    """The v a schedule can use, from a slider that may be anywhere: 1 for single-chunk
    schedules, 2 for ZB-V and DualPipeV, at least 2 for the interleaved family."""
    chunks = _SHAPE[name][0] if name in _SHAPE else 1
    return max(v, 2) if chunks is None else chunks


def build(name: str, p: int, m: int, v: int = 1, costs=None) -> Schedule:
    """Build schedule ``name`` for ``p`` ranks, ``m`` micro-batches, ``v`` chunks per rank.
    ZB-V and DualPipeV always use two chunks in a V: ``v`` may be left at 1 for them.
    ``costs`` (a ``ppedu.schedules.simulator.CostModel``; None: T_F = T_B = T_W = 1) matters
    only to ZB-H2, whose order is chosen for them."""
    if name not in SCHEDULE_NAMES:
        check_choice("schedule", name, SCHEDULE_NAMES)
    p, m = check_int("p", p, 1, MAX_P), check_int("m", m, 1, MAX_M)
    v = check_int("v", v, 1, MAX_V)
    if p * m * v > MAX_TASKS:
        raise UsageError(_("p*m*v must be at most {hi} (got {p}*{m}*{v} = {n})").format(
            hi=MAX_TASKS, p=p, m=m, v=v, n=p * m * v))
    chunks, placement, split = _SHAPE[name]
    if chunks is None and v < 2:
        raise UsageError(_("v must be an integer in 2..{hi} for {name} (got {v})").format(hi=MAX_V, name=name, v=v))
    if chunks == 2 and v in (1, 2):
        v = 2
    elif chunks is not None and v != chunks:
        raise UsageError((_("v must be {chunks} for schedule {name} (got {v}); only interleaved, looped-bfs and "
                            "interleaved-zb use more chunks") if chunks == 1 else
                          _("v must be {chunks} for schedule {name} (got {v})")).format(chunks=chunks, name=name, v=v))
    if name == "zb2":
        ranks = _zb2_ranks(p, m, costs)
    else:
        ranks = [_BUILDERS[name](p, m, v, r) for r in range(p)]
    return Schedule(name, p, m, v, ranks, split_backward=split, placement=placement)


def _naive_rank(p: int, m: int, v: int, rank: int) -> list[Action]:
    """Micro-batches one at a time through the whole pipe: F0 B0 F1 B1 ...

    Rank 0 only starts F1 after its own B0, which comes after every other rank's B0, so the
    micro-batches never overlap: each GPU is busy 1/p of the time whatever m is.
    Micro-batching without pipelining does not help.
    """
    actions = []
    for mb in range(m):
        actions += [Action("F", mb), Action("B", mb)]
    return actions


def _gpipe_rank(p: int, m: int, v: int, rank: int) -> list[Action]:
    """GPipe / all-forward-all-backward: every forward, then every backward (in mb order,
    as torch's ScheduleGPipe and picotron do). Holds the activations of all m micro-batches."""
    return [Action("F", mb) for mb in range(m)] + [Action("B", mb) for mb in range(m)]


def _1f1b_rank(p: int, m: int, v: int, rank: int) -> list[Action]:
    """1F1B (PipeDream-flush, Megatron non-interleaved, picotron).

    Warm-up: rank r runs min(p - r - 1, m) forwards, just enough to keep the ranks after it busy.
    Steady state: one forward, one backward. Cool-down: the remaining backwards.
    A backward frees a micro-batch's activations, so rank r never holds more than p - r.
    """
    warmup = min(p - rank - 1, m)
    actions = [Action("F", mb) for mb in range(warmup)]
    next_backward = 0
    for mb in range(warmup, m):
        actions += [Action("F", mb), Action("B", next_backward)]
        next_backward += 1
    actions += [Action("B", mb) for mb in range(next_backward, m)]
    return actions


def _zb1_rank(p: int, m: int, v: int, rank: int) -> list[Action]:
    """ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", ICLR 2024, sec. 2.1, Fig. 3 top).

    Backward is split into B (input gradient: the next rank waits for it) and W (weight
    gradient: nobody waits for it). The F/B order is exactly 1F1B's. W is what moves: rank r
    keeps its W's back so that at most r of them are pending, and runs them in the cool-down
    where 1F1B sat idle. Rank r holds activations until W, i.e. for at most (p - r) + r = p
    micro-batches: the same peak as 1F1B's first rank. With t_F = t_B = t_W the bubble
    shrinks from (p-1)(t_F+t_B+t_W) to (p-1)(t_F+t_B-t_W) per rank, a third.
    """
    return defer_weights(_1f1b_rank(p, m, 1, rank), may_defer=rank)


def _zb2_rank(p: int, m: int, v: int, rank: int) -> list[Action]:
    """Handcrafted ZB-H2 (Qi et al. 2024, sec. 2.2, Fig. 3 bottom), built for t_F = t_B = t_W:
    more warm-up forwards, so that no rank waits for its first input gradient, and W's
    deferred as in ZB-H1.

    With t_F = t_B = t_W rank r's first input gradient arrives 2(p-r)-1 time units after its
    first forward could start, so it runs that many forwards first: 2p-1 on rank 0, ZB-H2's
    peak memory. Then one B, one F, and the W's that fill the tail. At these costs its flushed
    step, 3m + p - 1 units for m >= p, is ZB-H1's and the shortest any order can reach
    (``theory.min_makespan_split``): rank p-1 cannot start before time (p-1) t_F and every rank
    has 3m units of work. The paper's zero bubble needs the next step to start before this one
    drains, i.e. no optimizer synchronisation between steps (its sec. 4, post-validation).
    """
    warmup = min(2 * (p - rank) - 1, m)
    actions = [Action("F", mb) for mb in range(warmup)]
    for mb in range(m):
        actions.append(Action("B", mb))
        if warmup + mb < m:
            actions.append(Action("F", warmup + mb))
    return defer_weights(actions, may_defer=rank)


def _zb2_ranks(p: int, m: int, costs=None) -> list[list[Action]]:
    """ZB-H2 for the given costs: the handcrafted order (``_zb2_rank``) or the list schedule
    at ZB-H2's memory, 2p-1 micro-batches per rank (``ppedu.schedules.greedy``), whichever
    gives the shorter step under ``costs`` (the handcrafted one on a tie).

    At t_F = t_B = t_W and m >= p the handcrafted order already reaches the lower bound
    (``theory.min_makespan_split``), so it is kept without a search. With the paper's
    t_W < t_F < t_B its fixed warm-up makes it no faster than ZB-H1, while the list schedule
    sizes each rank's warm-up and places its W's for the costs and runs a shorter step. The
    paper does the same: handcrafted schedules at equal costs, its automatic scheduler (sec. 3)
    for measured ones.
    """
    handcrafted = [_zb2_rank(p, m, 1, r) for r in range(p)]
    if costs is None and m >= p:
        return handcrafted          # at the bound for equal costs (tests/schedules/test_zb2.py)
    per_rank = [costs.per_rank(name, p) for name in ("t_f", "t_b", "t_w")] if costs is not None \
        else [[1.0] * p] * 3
    message = costs.message_time() if costs is not None else 0.0

    def step(ranks: list[list[Action]]) -> float:
        # the simulator's fast path directly: ppedu.schedules.simulator builds schedules itself
        schedule = Schedule("zb2", p, m, 1, ranks, split_backward=True, placement="loop")
        program = compiled.compile_schedule(schedule, message)
        _, ends = compiled.run_program(program, compiled.durations(program, True, *per_rank, 1))
        return max(max(row) for row in ends if row)

    ours = step(handcrafted)
    if message == 0 and all(len(set(c)) == 1 for c in per_rank) and \
            ours <= min_makespan_split(p, m, *(c[0] for c in per_rank)) * (1 + 1e-9):
        return handcrafted          # nothing can be shorter
    greedy = list_schedule(p, m, *per_rank, message=message, cap=2 * p - 1)
    return greedy if step(greedy) < ours * (1 - 1e-9) else handcrafted  # float noise is no win


def _forward_only_rank(p: int, m: int, v: int, rank: int) -> list[Action]:
    """Inference: micro-batched forwards only (no backward, no gradient to wait for)."""
    return [Action("F", mb) for mb in range(m)]


# one rank's order from (p, m, v, rank); zb2 orders all ranks at once for the costs (_zb2_ranks)
_BUILDERS: dict[str, Callable[[int, int, int, int], list[Action]]] = {
    "naive": _naive_rank,
    "gpipe": _gpipe_rank,
    "1f1b": _1f1b_rank,
    "zb1": _zb1_rank,
    "forward-only": _forward_only_rank,
    "interleaved": chunked.interleaved_rank,
    "looped-bfs": chunked.looped_bfs_rank,
    "interleaved-zb": chunked.interleaved_zb_rank,
    "zbv": chunked.zbv_rank,
    "dualpipev": chunked.dualpipev_rank,
}
