"""Step time of ppedu's engine vs torch.distributed.pipelining, same model, p and m, on gloo.

Both run in the same warm cluster, one after the other, several steps each, timed the same way
(from a barrier to the last rank done); the table prints the median step time of each and the ratio ours / torch (goal: <= 1.0), and the largest gradient
difference between the two after the first step (they must agree).

    .venv/bin/python benchmarks/bench_vs_torch_pipelining.py [-p 2] [--m 4 8] [--steps 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings

from ppedu.runtime.cluster import get_cluster
from ppedu.training.engine import TrainConfig, train
from ppedu.training.torch_baseline import torch_step_job


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", type=int, default=2)
    parser.add_argument("--m", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate ours/torch this many times (a loaded CPU drifts)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    group = get_cluster(args.p)
    print(f"p={args.p}, gloo, tiny GPT (model workload), {args.rounds} x {args.steps} steps each "
          "(first of each run not timed), median step time")
    print(f"{'schedule':<8} {'m':>3} {'ppedu ms':>9} {'torch ms':>9} {'ratio':>6} {'max |grad diff|':>16}")
    for schedule in ("gpipe", "1f1b"):
        for m in args.m:
            if schedule == "1f1b" and m < args.p:
                continue  # torch's Schedule1F1B refuses m < p
            cfg = TrainConfig(schedule, args.p, m, workload="model", steps=args.steps, check_grads=True)
            ours_times, torch_times = [], []
            for _ in range(args.rounds):  # side by side: ours, torch, ours, torch, ...
                res = train(cfg, group=group)
                ours_times += res.wall_times_s[1:]         # step 0 builds the model: not timed
                theirs = group.run(torch_step_job, cfg, args.steps)
                torch_times += [max(t) for t in zip(*(r["times"] for r in theirs))][1:]
            ours_grads = res.gradients
            torch_grads = {n: g for r in theirs for n, g in r["grads"].items()}
            diff = max(float((ours_grads[n] - torch_grads[n]).abs().max()) for n in torch_grads)
            ours, ref = statistics.median(ours_times), statistics.median(torch_times)
            print(f"{schedule:<8} {m:>3} {ours * 1e3:>9.1f} {ref * 1e3:>9.1f} {ours / ref:>6.2f} {diff:>16.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
