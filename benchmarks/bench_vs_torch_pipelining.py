"""Step time of ppedu's engine vs torch.distributed.pipelining, same model, p and m, on gloo.

Both run in the same warm cluster, one after the other, several steps each, timed the same way
(from a barrier to the last rank done); the table prints the median step time of each and the ratio ours / torch (goal: <= 1.0), and the largest gradient
difference between the two after the first step (they must agree).

    .venv/bin/python benchmarks/bench_vs_torch_pipelining.py [-p 2 4] [--m 4 8] [--steps 5]

Then a profile (cProfile on every rank, ``ppedu.training.profiling``): each rank's own time per
step in five bins (waiting in a work handle, message set-up, torch compute, torch's Python, other
Python) for ours and for torch, and what differs most. cProfile charges wall time to the C call
that was running, so on an oversubscribed CPU "waiting" and "messages" also hold the time a rank
was descheduled inside them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings

from ppedu.runtime.cluster import get_cluster
from ppedu.training.engine import TrainConfig, train
from ppedu.training.profiling import BINS, profile_step_job
from ppedu.training.torch_baseline import torch_step_job


def _time_rows(group, p: int, ms: list[int], steps: int, rounds: int) -> list[float]:
    """The timing table for one p; returns the ratios."""
    ratios = []
    for schedule in ("gpipe", "1f1b"):
        for m in ms:
            if schedule == "1f1b" and m < p:
                continue  # torch's Schedule1F1B refuses m < p
            cfg = TrainConfig(schedule, p, m, workload="model", steps=steps, check_grads=True)
            ours_times, torch_times = [], []
            for _ in range(rounds):  # side by side: ours, torch, ours, torch, ...
                res = train(cfg, group=group)
                ours_times += res.wall_times_s[1:]         # step 0 builds the model: not timed
                theirs = group.run(torch_step_job, cfg, steps)
                torch_times += [max(t) for t in zip(*(r["times"] for r in theirs))][1:]
            torch_grads = {n: g for r in theirs for n, g in r["grads"].items()}
            diff = max(float((res.gradients[n] - torch_grads[n]).abs().max()) for n in torch_grads)
            ours, ref = statistics.median(ours_times), statistics.median(torch_times)
            ratios.append(ours / ref)
            print(f"{p:>2} {schedule:<8} {m:>3} {ours * 1e3:>9.1f} {ref * 1e3:>9.1f} "
                  f"{ours / ref:>6.2f} {diff:>16.2e}")
    return ratios


def _profile(group, p: int, m: int, steps: int) -> None:
    """Own time per step and bin, ours vs torch, rank by rank, and the largest difference."""
    print(f"\nprofile, p={p} m={m}, ms per step of own time (cProfile, {steps} steps):")
    print(f"{'':14}" + "".join(f"{b:>10}" for b in BINS) + f"{'total':>10}")
    for schedule in ("gpipe", "1f1b"):
        cfg = TrainConfig(schedule, p, m, workload="model")
        ours = group.run(profile_step_job, cfg, steps, False, 3)
        theirs = group.run(profile_step_job, cfg, steps, True, 3)
        for name, rows in (("ours", ours), ("torch", theirs)):
            for r, b in enumerate(rows):
                print(f"{schedule:<6}{name:<6}r{r} " + "".join(
                    f"{b[k] * 1e3 / steps:>10.1f}" for k in BINS + ("total",)))
        gaps = {k: sum(o[k] - t[k] for o, t in zip(ours, theirs)) / p / steps for k in BINS}
        worst = max(gaps, key=lambda k: abs(gaps[k]))
        top = ", ".join(f"{name} {sec * 1e3 / steps:.1f} ms" for sec, _, name in ours[0]["top"])
        print(f"  {schedule}: largest difference per rank and step: {worst} "
              f"{gaps[worst] * 1e3:+.1f} ms (ours - torch); ours, rank 0, top own time: {top}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--m", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate ours/torch this many times (a loaded CPU drifts)")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"gloo, tiny GPT (model workload), {args.rounds} x {args.steps} steps each "
          "(first of each run not timed), median step time")
    print(f"{'p':>2} {'schedule':<8} {'m':>3} {'ppedu ms':>9} {'torch ms':>9} {'ratio':>6} "
          f"{'max |grad diff|':>16}")
    ratios = []
    for p in args.p:
        ratios += _time_rows(get_cluster(p), p, args.m, args.steps, args.rounds)
    print(f"largest ratio ours/torch: {max(ratios):.2f} (goal <= 1.0)")
    if not args.no_profile:
        for p in args.p:
            _profile(get_cluster(p), p, max(args.m), 4)
    return 0


if __name__ == "__main__":
    sys.exit(main())
