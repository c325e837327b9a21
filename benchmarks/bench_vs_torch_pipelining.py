"""Step time of ppedu's engine vs torch.distributed.pipelining, same model, p and m, on gloo.

Both run in the same warm cluster and are timed the same way: a step runs from the first rank
out of the barrier to the last rank done, on the shared clock; steps run in a loop inside one job
(a training loop, no driver round trip between steps), and the two alternate in rounds (ours,
torch, ours, ...) because a shared CPU's load drifts. The table prints the median step time of
each, the ratio ours / torch (goal: <= 1.0), the range of the per-round ratios (the spread a
loaded machine adds) and the largest gradient difference after the first step (they must agree).
Then "where our step goes": the ranks' own event records split each step into compute, waiting
for a message, the executor's Python and message set-up, and waiting for sends at the end.

    .venv/bin/python benchmarks/bench_vs_torch_pipelining.py [-p 2 4] [--m 4 8] [--steps 5] [--rounds 6]

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
from ppedu.training import executor
from ppedu.training.engine import TrainConfig, train
from ppedu.training.profiling import BINS, profile_step_job
from ppedu.training.torch_baseline import torch_step_job


def _wall(ranks_start_end) -> float:
    """One step's time, the same for both: first rank out of the barrier to the last rank done,
    on the shared clock."""
    starts, ends = zip(*ranks_start_end)
    return max(ends) - min(starts)


def _where(ranks: list[dict]) -> dict:
    """Where one of our steps went, mean over ranks, from the events the ranks recorded: compute
    (F/B/W), waiting for a message (recv), the rest up to the last action (the executor's Python,
    posting and starting messages), and waiting for the step's sends to leave at the end."""
    out = dict.fromkeys(WHERE, 0.0)
    for r in ranks:
        ev = r["events"]
        compute = sum(e - s for k, *_, s, e in ev if k != "recv")
        waiting = sum(e - s for k, *_, s, e in ev if k == "recv")
        last = max((e for *_, e in ev), default=r["t0"])
        for key, sec in zip(WHERE, (compute, waiting, last - r["t0"] - compute - waiting,
                                    r["t_end"] - last)):
            out[key] += sec / len(ranks)
    return out


WHERE = ("compute", "waiting", "python+set-up", "send tail")


def _measure(group, cfg, steps: int, rounds: int) -> dict:
    """``rounds`` x ``steps`` timed steps of ours and of torch's, alternated; medians and spread."""
    ours_t, torch_t, where, paired, cpu = [], [], [], [], {"ours": [], "torch": []}
    for i in range(rounds):  # side by side, ours, torch, ours, ...: a loaded CPU drifts
        ours = group.run(executor.steps_job, cfg, 2 + i * steps, steps)
        ours_t += [_wall([(r["t0"], r["t_end"]) for r in step]) for step in zip(*ours)]
        where += [_where(list(step)) for step in zip(*ours)]
        cpu["ours"] += [statistics.fmean(r["step_cpu_s"] for r in step) for step in zip(*ours)]
        theirs = group.run(torch_step_job, cfg, steps, None, False)
        torch_t += [_wall([(r["starts"][j], r["ends"][j]) for r in theirs]) for j in range(steps)]
        cpu["torch"] += [statistics.fmean(c) for c in zip(*(r["cpu_s"] for r in theirs))]
        paired.append(statistics.median(ours_t[-steps:]) / statistics.median(torch_t[-steps:]))
    return {"ours": statistics.median(ours_t), "torch": statistics.median(torch_t),
            "rounds": (min(paired), max(paired)),
            "where": {k: statistics.median(w[k] for w in where) for k in WHERE},
            "cpu": {k: statistics.median(v) for k, v in cpu.items()}}


def _time_rows(group, p: int, ms: list[int], steps: int, rounds: int) -> list[dict]:
    """The timing table for one p (printed as it goes); returns its rows."""
    rows = []
    for schedule in ("gpipe", "1f1b"):
        for m in ms:
            if schedule == "1f1b" and m < p:
                continue  # torch's Schedule1F1B refuses m < p
            res = train(TrainConfig(schedule, p, m, workload="model", steps=2, check_grads=True),
                        group=group)                           # step 0 builds (and grads), 1 warms
            cfg = res.config                                   # with the stage boundaries it used
            theirs = group.run(torch_step_job, cfg, 2)         # fresh, grads, then warm
            torch_grads = {n: g for r in theirs for n, g in r["grads"].items()}
            diff = max(float((res.gradients[n] - torch_grads[n]).abs().max()) for n in torch_grads)
            row = dict(_measure(group, cfg, steps, rounds), p=p, schedule=schedule, m=m)
            row["ratio"] = row["ours"] / row["torch"]
            rows.append(row)
            print(f"{p:>2} {schedule:<8} {m:>3} {row['ours'] * 1e3:>9.1f} {row['torch'] * 1e3:>9.1f} "
                  f"{row['ratio']:>6.2f} {row['rounds'][0]:>5.2f}-{row['rounds'][1]:<5.2f} {diff:>12.2e}")
    return rows


def _print_where(rows: list[dict]) -> None:
    """Where our step goes, row by row, and what the rows say together."""
    print("\nwhere our step goes (median over steps of the mean over ranks, ms, from the events "
          "the ranks recorded on the shared clock); cpu: the CPU a rank's thread got per step, "
          "ours and torch's (the engines' own cost, which other programs disturb far less than "
          "wall time)")
    print(f"{'p':>2} {'schedule':<8} {'m':>3} " + "".join(f"{k:>15}" for k in WHERE)
          + f"{'step':>10}{'cpu ours':>10}{'cpu torch':>10}")
    for r in rows:
        print(f"{r['p']:>2} {r['schedule']:<8} {r['m']:>3} " + "".join(
            f"{r['where'][k] * 1e3:>15.1f}" for k in WHERE) + f"{r['ours'] * 1e3:>10.1f}"
            f"{r['cpu']['ours'] * 1e3:>10.1f}{r['cpu']['torch'] * 1e3:>10.1f}")
    share = {k: statistics.fmean(r["where"][k] / r["ours"] for r in rows) for k in WHERE}
    cpu = [r["cpu"]["ours"] / r["cpu"]["torch"] for r in rows]
    print("summary: of our step, " + ", ".join(f"{k} {share[k]:.0%}" for k in WHERE)
          + f" (mean over rows); our CPU per rank and step is {min(cpu):.2f}-{max(cpu):.2f} x "
          "torch's; the rest of a step is waiting: the bubble, messages, and ranks the OS did not run")


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
    parser.add_argument("--steps", type=int, default=5, help="timed steps per run")
    parser.add_argument("--rounds", type=int, default=6,
                        help="alternate ours/torch this many times (a loaded CPU drifts)")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"gloo, tiny GPT (model workload), {args.rounds} rounds of {args.steps} steps each in "
          "one job per round (a training loop), ours and torch alternated, after two warm-up steps; "
          "median step time, ratio of the medians, and the range of the per-round ratios")
    print(f"{'p':>2} {'schedule':<8} {'m':>3} {'ppedu ms':>9} {'torch ms':>9} {'ratio':>6} "
          f"{'rounds':>11} {'|grad diff|':>12}")
    rows = [row for p in args.p for row in _time_rows(get_cluster(p), p, args.m, args.steps,
                                                      args.rounds)]
    print(f"largest ratio ours/torch: {max(r['ratio'] for r in rows):.2f} (goal <= 1.0)")
    _print_where(rows)
    if not args.no_profile:
        for p in args.p:
            _profile(get_cluster(p), p, max(args.m), 4)
    return 0


if __name__ == "__main__":
    sys.exit(main())
