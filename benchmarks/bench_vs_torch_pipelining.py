"""Step time of ppedu's engine vs torch.distributed.pipelining, same model, p and m, on gloo.

Both run in the same warm cluster and are timed the same way: a step runs from the first rank
out of the barrier to the last rank done, on the shared clock. A shared CPU's load drifts from
second to second (here one step of the same pipeline takes anywhere from 0.6x to 1.5x its
median), so the two are measured in *pairs*: one step of ours and one of torch's back to back in
the same job, ABBA order. The table prints the median step time of each, the ratio of the
medians, the geometric mean of the per-pair ratios with its 95% confidence interval (goal:
<= 1.0), the range of the per-job median ratios, a verdict (faster / parity / slower: whether the
interval lies below 1, holds 1, or lies above it) and the largest gradient difference after the
first step (they must agree).
Then "where our step goes": the ranks' own event records split each step into compute, waiting
for a message, the calls that start messages (a gloo isend writes to the socket there; posting a
receive tells the peer), the executor's own Python, and waiting for sends at the end.

    .venv/bin/python benchmarks/bench_vs_torch_pipelining.py [-p 2 4] [--m 4 8] [--steps 8] [--rounds 6]

Then a profile (cProfile on every rank, ``ppedu.training.profiling``): each rank's own time per
step in five bins (waiting in a work handle, message set-up, torch compute, torch's Python, other
Python) for ours and for torch, and what differs most. cProfile charges wall time to the C call
that was running, so on an oversubscribed CPU "waiting" and "messages" also hold the time a rank
was descheduled inside them.

What the measurements say (2-core VM, gloo, December 2026; rerun this to check): GPipe and every
p=4 row are faster than torch's (paired 0.68-0.92); p=2 1F1B is at parity (paired 0.96-1.08, the
interval holding 1.0 or just above it). There the two engines do the same compute (per-action F
and B times equal within 2%), the same gloo calls in the same order and the same waits: our own
Python is 0.4-0.8 ms of a 20-45 ms step, and the largest piece that is not compute is the calls
that start messages (100-300 us each inside a step against 18 us on an idle pair: gloo writes the
16 KiB to the socket in the caller's thread). Tried and measured, none moving p=2 1F1B below 1.0
reliably: posting receives just in time instead of at step start (gloo hands a message over
only once its receive is posted; p=2 1F1B 0.95-1.07 but p=2 GPipe 0.80 -> 0.95 and p=4 1F1B
0.88 -> 0.99), posting one receive ahead (1.00-1.07), issuing sends from a second thread (0.96-1.04;
with a 0.2 ms GIL switch interval 1.01-1.11), garbage collection off (1.02-1.04), spin-waiting.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import warnings

from ppedu.runtime.cluster import get_cluster
from ppedu.training.config import TrainConfig
from ppedu.training.engine import train
from ppedu.training.profiling import BINS, profile_step_job
from ppedu.training.torch_baseline import paired_steps_job, torch_step_job


def _wall(ranks_start_end) -> float:
    """One step's time, the same for both: first rank out of the barrier to the last rank done,
    on the shared clock."""
    starts, ends = zip(*ranks_start_end)
    return max(ends) - min(starts)


def _where(ranks: list) -> dict:
    """Where one of our steps went, mean over ranks, from the events the ranks recorded: compute
    (F/B/W), waiting for a message (recv), inside the calls that start messages (comm's
    ``start_s``: isend and posting receives), the rest up to the last action (the executor's own
    Python), and waiting for the step's sends to leave at the end."""
    out = dict.fromkeys(WHERE + MESSAGES, 0.0)
    for r in ranks:
        ev = r.events
        compute = sum(e.end - e.start for e in ev if e.kind != "recv")
        waiting = sum(e.end - e.start for e in ev if e.kind == "recv")
        calls = r.comm.start_s
        count = sum(v.messages for side in (r.comm.sent, r.comm.received) for v in side.values())
        out["per_call"] += calls / max(count, 1) / len(ranks)
        sent = r.comm.sent.values()
        out["msg_bytes"] = max(out["msg_bytes"], sum(v.bytes for v in sent) / max(1, sum(
            v.messages for v in sent)))
        last = max((e.end for e in ev), default=r.t0)
        for key, sec in zip(WHERE, (compute, waiting, calls,
                                    last - r.t0 - compute - waiting - calls, r.t_end - last)):
            out[key] += sec / len(ranks)
    return out


WHERE = ("compute", "waiting", "message calls", "python", "send tail")
MESSAGES = ("per_call", "msg_bytes")   # seconds per call that starts a message; bytes per message


def _measure(group, cfg, steps: int, rounds: int) -> dict:
    """``rounds`` jobs of ``steps`` (ours, torch) step pairs (``paired_steps_job``: back to back,
    ABBA order). Medians of each, the geometric mean of the per-pair ratios with its 95%
    confidence interval, the range of the per-round median ratios, where our steps went."""
    ours_t, torch_t, where, per_round, cpu = [], [], [], [], {"ours": [], "torch": []}
    for i in range(rounds):
        pairs = group.run(paired_steps_job, cfg, 2 + i * steps, steps)
        for k in range(steps):
            ours = [rank[k][0] for rank in pairs]
            theirs = [rank[k][1] for rank in pairs]
            ours_t.append(_wall([(r.t0, r.t_end) for r in ours]))
            torch_t.append(_wall([(r.starts[0], r.ends[0]) for r in theirs]))
            where.append(_where(ours))
            cpu["ours"].append(statistics.fmean(r.step_cpu_s for r in ours))
            cpu["torch"].append(statistics.fmean(r.cpu_s[0] for r in theirs))
        per_round.append(statistics.median(o / t for o, t in zip(ours_t[-steps:], torch_t[-steps:])))
    logs = [math.log(o / t) for o, t in zip(ours_t, torch_t)]
    half = 1.96 * statistics.stdev(logs) / math.sqrt(len(logs))
    mean = statistics.fmean(logs)
    return {"ours": statistics.median(ours_t), "torch": statistics.median(torch_t),
            "paired": math.exp(mean), "ci": (math.exp(mean - half), math.exp(mean + half)),
            "rounds": (min(per_round), max(per_round)),
            "where": {k: statistics.median(w[k] for w in where) for k in WHERE + MESSAGES},
            "cpu": {k: statistics.median(v) for k, v in cpu.items()}}


def _verdict(ci: tuple[float, float]) -> str:
    """What the confidence interval of the paired ratio says."""
    return "faster" if ci[1] < 1.0 else "slower" if ci[0] > 1.0 else "parity"


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
            torch_grads = {n: g for r in theirs for n, g in r.grads.items()}
            diff = max(float((res.gradients[n] - torch_grads[n]).abs().max()) for n in torch_grads)
            row = dict(_measure(group, cfg, steps, rounds), p=p, schedule=schedule, m=m)
            row["ratio"] = row["ours"] / row["torch"]
            rows.append(row)
            lo, hi = row["ci"]
            print(f"{p:>2} {schedule:<8} {m:>3} {row['ours'] * 1e3:>9.1f} {row['torch'] * 1e3:>9.1f} "
                  f"{row['ratio']:>6.2f} {row['paired']:>7.3f} {lo:>6.3f}-{hi:<6.3f} "
                  f"{row['rounds'][0]:>5.2f}-{row['rounds'][1]:<5.2f} {_verdict(row['ci']):<7} "
                  f"{diff:>12.2e}")
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
          + f" (mean over rows); a call that starts a message "
          f"({max(r['where']['msg_bytes'] for r in rows) / 1024:.0f} KiB here) takes "
          f"{min(r['where']['per_call'] for r in rows) * 1e6:.0f}-"
          f"{max(r['where']['per_call'] for r in rows) * 1e6:.0f} us inside a step (the socket "
          f"write; torch's engine makes the same calls); our CPU per rank and step is "
          f"{min(cpu):.2f}-{max(cpu):.2f} x torch's; the rest of a step is waiting: the bubble, "
          "messages, and ranks the OS did not run")


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
    parser.add_argument("--steps", type=int, default=8, help="step pairs per job")
    parser.add_argument("--rounds", type=int, default=6, help="jobs of step pairs per row")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"gloo, tiny GPT (model workload), {args.rounds} jobs of {args.steps} step pairs (one "
          "step of ours and one of torch's, back to back, ABBA order, after a warm-up step each); "
          "median step times, the ratio of the medians, the geometric mean of the per-pair ratios "
          "with its 95% confidence interval, the range of the per-job median ratios, and the "
          "verdict of the interval (parity: it holds 1.0)")
    print(f"{'p':>2} {'schedule':<8} {'m':>3} {'ppedu ms':>9} {'torch ms':>9} {'ratio':>6} "
          f"{'paired':>7} {'95% CI':>13} {'jobs':>11} {'verdict':<7} {'|grad diff|':>12}")
    rows = [row for p in args.p for row in _time_rows(get_cluster(p), p, args.m, args.steps,
                                                      args.rounds)]
    worst = max(rows, key=lambda r: r["paired"])
    print(f"largest paired ratio ours/torch: {worst['paired']:.3f} (95% CI {worst['ci'][0]:.3f}-"
          f"{worst['ci'][1]:.3f}, p={worst['p']} {worst['schedule']} m={worst['m']}; goal <= 1.0); "
          + ", ".join(f"{v} {sum(_verdict(r['ci']) == v for r in rows)}"
                      for v in ("faster", "parity", "slower")) + f" of {len(rows)} rows")
    _print_where(rows)
    if not args.no_profile:
        for p in args.p:
            _profile(get_cluster(p), p, max(args.m), 4)
    return 0


if __name__ == "__main__":
    sys.exit(main())
