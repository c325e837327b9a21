"""Simulator cost: is ``ppedu.schedules.simulator.simulate`` linear in actions, and how fast?

Targets (issue 17): 1F1B at p=64, m=512 (65,536 actions) takes at most ~100 times as long as
p=8, m=64 (1,024 actions; 64 times fewer), and the simulator runs >= 200k actions/s. The time
covers everything a caller pays: task lists, the event loop, the Timeline and its metrics
(busy, idle, bubble, peak activations per rank). Times are this process's CPU time
(``time.process_time``: waiting for a core on a shared machine is not counted), best of several
repeats in alternated rounds. Each timing runs a small schedule as many times as it takes to
simulate about 65,536 actions, so that every size is timed over about the same stretch of wall
time: a neighbour busy on the shared CPU (which also evicts our data from the caches) hits each
size alike, instead of a 2 ms run finding a quiet moment that a 200 ms run never gets.

Last row: the chapter-3 grader ``check_rank_order`` on a correct 1F1B order at p=64, m=1024
(the largest it takes: 131,072 actions validated with blocking receives, plus the reference
step, simulated once and then cached). Target: an answer within 2 s, first call included
(issue 17: every public entry point answers within a second or two).

    .venv/bin/python benchmarks/bench_simulator.py [--repeats 5] [--schedules 1f1b zbv]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

from ppedu.notebook.checks.schedules import check_rank_order
from ppedu.schedules import build_schedule
from ppedu.schedules.builders import default_v
from ppedu.schedules.simulator import CostModel, simulate

SIZES = [(8, 64), (16, 128), (32, 256), (64, 512)]
ACTIONS_PER_TIMING = 65_536


def best_times(name: str, repeats: int) -> list[tuple[int, int, int, float]]:
    """(p, m, actions, CPU seconds of one ``simulate`` call) per size: the best of ``repeats``
    rounds, each round timing every size once (so a busy spell of a neighbour hits them all)."""
    schedules = [build_schedule(name, p, m, default_v(name)) for p, m in SIZES]
    actions = [sum(len(u.units) for row in s.ranks for u in row) for s in schedules]
    best = [float("inf")] * len(SIZES)
    for _ in range(repeats):
        for i, schedule in enumerate(schedules):
            runs = max(1, round(ACTIONS_PER_TIMING / actions[i]))
            start = time.process_time()
            for _ in range(runs):
                simulate(schedule, CostModel(1, 1, 1))
            best[i] = min(best[i], (time.process_time() - start) / runs)
    return [(p, m, n, t) for (p, m), n, t in zip(SIZES, actions, best)]


def grader_times(repeats: int, p: int = 64, m: int = 1024, rank: int = 3) -> tuple[float, float]:
    """CPU seconds of ``check_rank_order`` on rank's own 1F1B order: first call, best repeat."""
    answer = [a.label() for a in build_schedule("1f1b", p, m).ranks[rank]]
    times = []
    for _ in range(max(2, repeats)):
        start = time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):  # it prints one line with a check mark
            check_rank_order(p, m, rank, answer)
        times.append(time.process_time() - start)
    return times[0], min(times[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--schedules", nargs="+", default=["1f1b", "zbv"])
    args = parser.parse_args()
    ok = True
    start = time.process_time()
    table = {(i, "F", i): i for i in range(10**6)}
    print(f"machine speed now: 10^6 dict inserts in {time.process_time() - start:.2f} s of CPU "
          f"(about 0.1-0.2 s on an idle core; a shared CPU slows everything below alike)")
    del table
    for name in args.schedules:
        print(f"\n{name}:  p    m   actions   seconds   actions/s   time / smallest")
        rows = best_times(name, args.repeats)
        small = rows[0]
        for p, m, actions, seconds in rows:
            print(f"{'':>6}{p:>3} {m:>4} {actions:>9} {seconds:>9.4f} {actions / seconds:>11,.0f}"
                  f" {seconds / small[3]:>10.1f}x  (actions {actions / small[2]:.0f}x)")
        largest = rows[-1]
        ratio, rate = largest[3] / small[3], largest[2] / largest[3]
        # issue 17 sets the scaling target on 1F1B's 65,536 actions; other schedules report theirs
        # (ZB-V's largest case has 196,608 actions, whose data no longer fits the CPU caches)
        scaled = ratio <= 100 if name == "1f1b" else True
        verdict = scaled and rate >= 200_000
        ok &= verdict
        target = "target <= ~100x" if name == "1f1b" else "reported, no target"
        print(f"      p=64,m=512 vs p=8,m=64: {ratio:.0f}x the time for 64x the actions "
              f"({target}); {rate:,.0f} actions/s (target >= 200,000): "
              f"{'PASS' if verdict else 'FAIL'}")
    first, again = grader_times(args.repeats)
    ok &= first <= 2.0
    print(f"\ncheck_rank_order, 1f1b p=64, m=1024 (131,072 actions): first call {first:.2f} s, "
          f"again {again:.2f} s (target <= 2 s): {'PASS' if first <= 2.0 else 'FAIL'}")
    print(f"\nall targets: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
