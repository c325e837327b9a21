"""Activation recomputation, measured: the peak drop and the extra step time (none / selective / full).

Runs the tiny GPT's pipeline (model workload) with each ``recompute`` mode on one warm cluster,
``--rounds`` times alternating the modes (a loaded CPU drifts), ``--steps`` steps each. Step 0 is
the measurement step (saved-tensor hooks on CPU; on a GPU the allocator measures every step) and is
not timed; the table prints rank 0's measured peak, the median step time of the other steps, both
relative to ``none``, and the largest gradient difference against the single-process model.

    .venv/bin/python benchmarks/bench_recompute.py [-p 2] [-m 4] [--seq 128] [--embd 128]
"""

from __future__ import annotations

import argparse
import statistics
import warnings

from ppedu.runtime.cluster import get_cluster
from ppedu.training.config import TrainConfig
from ppedu.training.engine import train

MODES = ("none", "selective", "full")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", type=int, default=2)
    parser.add_argument("-m", type=int, default=4)
    parser.add_argument("--schedule", default="1f1b")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--embd", type=int, default=128)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    group = get_cluster(args.p)
    times = {mode: [] for mode in MODES}
    peaks, diffs = {}, {}
    for _ in range(args.rounds):
        for mode in MODES:
            cfg = TrainConfig(args.schedule, args.p, args.m, workload="model", steps=args.steps,
                              seq_len=args.seq, n_embd=args.embd, n_head=args.heads,
                              recompute=mode, check_grads=True)
            result = train(cfg, group=group)
            times[mode] += result.wall_times_s[1:]          # step 0 ran the saved-tensor hooks
            peaks[mode] = result.per_rank[0].peak_activation_bytes
            diffs[mode] = result.grad_max_abs_diff
            method = result.activation_memory_method
    print(f"{args.schedule} p={args.p} m={args.m}, tiny GPT seq={args.seq} n_embd={args.embd} "
          f"heads={args.heads}; peak measured by {method}; median of {len(times['none'])} steps")
    print(f"{'recompute':<10} {'rank-0 peak MiB':>15} {'vs none':>8} {'step ms':>8} {'vs none':>8} "
          f"{'max |grad diff|':>16}")
    base_t = statistics.median(times["none"])
    for mode in MODES:
        t = statistics.median(times[mode])
        print(f"{mode:<10} {peaks[mode] / 2**20:>15.2f} {peaks[mode] / peaks['none']:>8.2f} "
              f"{t * 1e3:>8.1f} {t / base_t:>8.2f} {diffs[mode]:>16.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
