"""Closed-form bubble and memory formulas, with their sources.

Two ways to state a bubble circulate; both are here and the course says which is which:
  * idle fraction  = idle GPU time / (GPUs x makespan)        (GPipe paper; what we measure)
  * bubble ratio   = bubble time / ideal compute time          (Megatron, Ultra-Scale Playbook)
For GPipe/1F1B they are (p-1)/(m+p-1) and (p-1)/m: same physics, other denominator.

Conventions match ``ppedu.schedules.simulator.CostModel``: ``tf`` forward, ``tb`` input-gradient backward,
``tw`` weight-gradient backward, all per rank's share of the model; a schedule that does not
split backward pays ``tb + tw`` in one B. With equal costs and zero latency the simulator gives
exactly these numbers for p in 1..8, m in 1..32, v in 2..4 (tests/schedules/test_simulator.py).
"""

from __future__ import annotations

from ppedu.errors import check_choice
from ppedu.schedules.actions import SCHEDULE_NAMES


def bubble_naive(p: int) -> float:
    """(p-1)/p: only one GPU works at a time (75 % for p = 4), whatever m is."""
    return (p - 1) / p


def bubble_gpipe(p: int, m: int) -> float:
    """(p-1)/(m+p-1): idle fraction of GPipe (Huang et al. 2019, sec. 2.3).

    The step lasts (m+p-1)(tf+tb); each GPU computes m(tf+tb) of it.
    """
    return (p - 1) / (m + p - 1)


def bubble_1f1b(p: int, m: int) -> float:
    """Same as GPipe (PipeDream-flush: Narayanan et al., ICML 2021; Megatron's default schedule,
    Narayanan et al. SC'21 sec. 2.2.1): 1F1B saves memory, not time."""
    return bubble_gpipe(p, m)


def bubble_forward_only(p: int, m: int) -> float:
    """(p-1)/(m+p-1): inference pipeline, fill and drain of forwards only."""
    return (p - 1) / (m + p - 1)


def bubble_interleaved(p: int, m: int, v: int) -> float:
    """(p-1)/(v*m + p-1): idle fraction of Megatron interleaved 1F1B with v chunks per rank.

    Narayanan et al. SC'21 (arXiv 2104.04473, sec. 2.2.2): the bubble time shrinks to
    (p-1)(tf+tb)/v while the work stays m(tf+tb), so idle / makespan = (p-1)/(v*m + p-1).
    """
    return (p - 1) / (v * m + p - 1)


def bubble_ratio_interleaved(p: int, m: int, v: int) -> float:
    """(p-1)/(v*m): the same bubble as Megatron states it (bubble time / ideal time)."""
    return (p - 1) / (v * m)


def bubble_ratio_playbook(p: int, m: int) -> float:
    """(p-1)/m: GPipe/1F1B bubble time over ideal compute time (Ultra-Scale Playbook)."""
    return (p - 1) / m


def makespan_zb1(p: int, m: int, tf: float = 1.0, tb: float = 1.0, tw: float = 1.0) -> float:
    """Step time of our ZB-H1 schedule.

    Qi et al. 2024 (arXiv 2401.10241, sec. 2.1, Fig. 3 top) give the bubble (p-1)(tf+tb-tw) per rank, so
    the step is m(tf+tb+tw) + (p-1)(tf+tb-tw). That needs m >= p: with fewer micro-batches
    rank 0 cannot get its first input gradient before p*tf + (p-1)*tb and still has m B's and
    m W's to run, hence the max. Derived for, and checked by simulation at, tf = tb = tw;
    with unequal costs the handcrafted schedule can be a little slower than this (the paper
    switches to its ILP/heuristic scheduler there).
    """
    return max(m * (tf + tb + tw) + (p - 1) * (tf + tb - tw), p * tf + (p - 1) * tb + m * (tb + tw))


def min_makespan_split(p: int, m: int, tf: float, tb: float, tw: float) -> float:
    """The shortest flushed step any order of a split backward (one chunk per rank, every rank
    t_F, t_B, t_W, no message time) can reach; the largest of three bounds:

      * the chain: rank p-1 starts after p-1 forwards and runs m F's and m B's; the last of its
        B's then takes p-1 hops of t_B back to rank 0, whose W for it ends the step:
        (p-1)(t_F + t_B) + m(t_F + t_B) + t_W;
      * the last rank's work: (p-1) t_F + m(t_F + t_B + t_W);
      * rank 0 after its first input gradient, p t_F + (p-1) t_B: m B's and m W's.

    At t_F = t_B = t_W and m >= p the second is the largest, 3m + p - 1 units: ZB-H1 and ZB-H2
    reach it. With t_W < t_F < t_B the chain can be the largest: ZB-H1's fixed order stays above
    it, and ZB-H2 ordered for the costs (``ppedu.schedules.builders._zb2_ranks``) comes closer.
    """
    return max((p - 1) * (tf + tb) + m * (tf + tb) + tw, (p - 1) * tf + m * (tf + tb + tw),
               p * tf + (p - 1) * tb + m * (tb + tw))


def min_bubble_split(p: int, m: int, tf: float, tb: float, tw: float) -> float:
    """The idle fraction of that shortest step: 1 - m(t_F + t_B + t_W) / ``min_makespan_split``.
    No flushed single-chunk zero-bubble schedule (ZB-H1, ZB-H2) has a smaller one."""
    return 1 - m * (tf + tb + tw) / min_makespan_split(p, m, tf, tb, tw)


def bubble_zb1(p: int, m: int, tf: float = 1.0, tb: float = 1.0, tw: float = 1.0) -> float:
    """Idle fraction of ZB-H1. At tf = tb = tw and m >= p: (p-1)/(3m + p-1), i.e. a bubble
    ratio of (p-1)/(3m), a third of 1F1B's (p-1)/m at the same activation memory."""
    return 1 - m * (tf + tb + tw) / makespan_zb1(p, m, tf, tb, tw)


def bubble_zero_bubble_chunked(p: int, m: int, v: int) -> float:
    """(p-1)/(3vm + p-1): idle fraction of torch's ZB1P (interleaved zero bubble) with v chunks and of
    ZB-V (v = 2) at t_F = t_B = t_W. Every rank starts (p-1)/v chunk-forwards late at most and
    W's fill the drain, so the step is 3m + (p-1)/v units. Holds for m >= p (ZB1P) and
    m >= 2p-1 (ZB-V, whose warm-up needs that many micro-batches); checked by simulation."""
    return (p - 1) / (3 * v * m + p - 1)


def peak_activations(schedule: str, p: int, m: int, rank: int = 0, v: int = 1) -> int:
    """Most micro-batches whose activations ``rank`` holds at once (per chunk for v > 1).

    GPipe: all m. 1F1B: min(p - rank, m) (PipeDream-flush's point). ZB-H1: min(p, m) on every
    rank, the first rank's 1F1B peak (Qi et al. sec. 2.1: "doesn't exceed that of 1F1B"). ZB-H2: 2p-1-rank
    (2p-1 on the first rank, Qi et al. sec. 2.2). Interleaved: Megatron's warm-up
    2(p-rank-1) + (v-1)R, plus the one in flight (R = p micro-batches per round when p divides
    m). On rank 0 that is vp + p - 1 chunks = p + (p-1)/v micro-batches' worth (the factor
    1 + (p-1)/(pv) of Korthikanti et al. 2022, sec. 4.2.3; the warm-up is Megatron's
    forward_backward_pipelining_with_interleaving). ZB1P: (v-1)R + p chunks on every rank (vp, i.e. p
    micro-batches' worth when R = p: ZB-H1's). ZB-V: 2p chunks = p micro-batches' worth, 1F1B's first rank.
    DualPipeV: 2p+1 chunks. Looped BFS: every chunk of every micro-batch, vm. Naive and
    forward-only: 1. Closed forms for m >= p (ZB-V, DualPipeV: m >= 2p).
    """
    # zb2: the handcrafted order's peaks (T_F = T_B = T_W); ordered for other costs
    # (builders._zb2_ranks) it holds at most 2p-1 on any rank
    per_round = m // max(1, m // p)  # p when m % p == 0 (Megatron); torch's rounds otherwise
    forms = {"gpipe": m, "1f1b": min(p - rank, m), "zb1": min(p, m), "zb2": min(2 * p - 1 - rank, m),
             "interleaved": min(2 * (p - rank - 1) + (v - 1) * per_round + 1, m * v),
             "interleaved-zb": min((v - 1) * per_round + p, m * v), "zbv": 2 * p, "dualpipev": 2 * p + 1, "looped-bfs": v * m,
             "naive": 1, "forward-only": 1}
    if schedule not in forms:
        check_choice("schedule", schedule, SCHEDULE_NAMES)
    return forms[schedule]


def total_idle_time(p: int, tf: float, tb: float) -> float:
    """p(p-1)(tf+tb): idle time summed over all GPUs for GPipe/1F1B, whatever m is
    (summed over devices; each GPU idles (p-1)(tf+tb))."""
    return p * (p - 1) * (tf + tb)


def min_makespan(p: int, m: int, tf: float, tb: float) -> float:
    """(m+p-1)(tf+tb): the shortest GPipe/1F1B step. Seed 002's table ends at t=10 for
    p = m = 4, but this says 14 units: the table breaks a dependency."""
    return (m + p - 1) * (tf + tb)


def theory_decode_bubble(p: int, inflight: int) -> float:
    """Steady-state decode bubble with K batches circulating through p stages: a batch's next step
    needs the token its last step produced, so at most K of the p stages have work: (p-K)/p."""
    return max(p - inflight, 0) / p


def theory_bubble(name: str, p: int, m: int, v: int = 1, costs=None) -> float | None:
    """Idle fraction predicted for schedule ``name``; ``costs`` is a ``CostModel``. None when no
    closed form applies: per-rank cost lists, zero bubble schedules other than ZB-H1 away from
    t_F = t_B = t_W (ZB-H2 is then ordered for the costs: ``min_bubble_split`` bounds it from
    below), and the small-m corners listed with each formula."""
    tf, tb, tw = 1.0, 1.0, 1.0  # default: the Zero Bubble paper's setting
    if costs is not None:
        values = (costs.t_f, costs.t_b, costs.t_w)
        if not all(isinstance(x, (int, float)) for x in values):
            return None  # an unbalanced pipeline: simulate it
        tf, tb, tw = (float(x) for x in values)
    equal = tf == tb == tw
    check_choice("schedule", name, SCHEDULE_NAMES)
    if name == "naive":
        return bubble_naive(p)
    if name in ("gpipe", "1f1b", "forward-only"):
        return bubble_gpipe(p, m)
    if name in ("interleaved", "looped-bfs"):
        return bubble_interleaved(p, m, v) if m >= p else None
    if name == "zb1":
        return bubble_zb1(p, m, tf, tb, tw)
    if not equal:
        return None
    if name in ("zb2", "dualpipev"):  # as ZB-H1: rank p-1 starts p-1 units late (pairs run in turn)
        return bubble_zb1(p, m) if m >= p else None
    if name == "interleaved-zb":
        return bubble_zero_bubble_chunked(p, m, v) if m >= p else None
    return bubble_zero_bubble_chunked(p, m, 2) if m >= 2 * p - 1 else None  # zbv
