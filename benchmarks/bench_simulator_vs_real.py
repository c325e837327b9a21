"""How well the simulator explains a real-compute step: model workload, simulated vs measured.

For each schedule and m, several steps run on the warm cluster; each step after the first is
replayed by the simulator from its own measured parts (per-rank compute and overhead per
action, the median message time; ``ppedu.training.calibration``): the simulation of the run
that ``ppedu train``, its JSON and the panels show. The table prints the median of the per-step
errors (simulated / measured - 1; goal within 10%), the last step replayed, theory (mean costs:
the simulator fed the pooled means) against the mean measured step, and where rank 0's and the last rank's step went
(compute / overhead / messages / bubble, ms). A shared CPU makes single steps noisy (a rank
that is descheduled shows up as a long action or a long wait): compare medians, not steps.

Where ranks share cores (p=4 on 2 cores, or p=2 beside other programs) an action's duration
depends on how many ranks compute at the same time, so the replay shares the cores among the
ranks ready to run (processor sharing, ``ppedu.schedules.shared_cpu``); the column "cores" is
the median of the cores the ranks measurably had (their threads' CPU clocks; p when each had
one, and then the replay is the plain simulation).

    .venv/bin/python benchmarks/bench_simulator_vs_real.py [-p 2 4] [--m 4 8] [--steps 6]
"""

from __future__ import annotations

import argparse
import statistics
import warnings

from ppedu.runtime.cluster import get_cluster
from ppedu.runtime.worker import cpu_cores
from ppedu.training.engine import train


def _parts(row) -> str:
    return "/".join(f"{getattr(row, k) * 1e3:.0f}" for k in ("compute_s", "overhead_s", "messages_s",
                                                               "bubble_s"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--m", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"model workload, {args.steps} steps each (the first not used), gloo, {cpu_cores()} CPU cores")
    print("ranks that share cores run an action slower the more ranks compute at once: the replay "
          "charges each action its work (CPU seconds) and shares the cores among the ranks ready "
          "to run (processor sharing); 'cores' is how many the ranks measurably had (their "
          "threads' CPU clocks: fewer than p when p > machine cores or other programs run)")
    print(f"{'p':>2} {'schedule':<8} {'m':>3} {'replay err':>10} {'simulated ms':>12} "
          f"{'theory (mean costs) ms':>22} {'mean step ms':>12} {'message ms':>10} {'cores':>5}  "
          "rank 0 / last rank: compute/overhead/messages/bubble ms")
    worst = 0.0
    for p in args.p:
        group = get_cluster(p)
        for schedule in ("gpipe", "1f1b"):
            for m in args.m:
                r = train(schedule=schedule, p=p, m=m, workload="model", steps=args.steps,
                          group=group)
                mean = statistics.fmean(r.step_times_s[1:] or r.step_times_s)
                worst = max(worst, abs(r.simulation_error))
                shared = r.calibration.effective_cores
                cores = f"{shared:.2f}" if shared else "-"
                print(f"{p:>2} {schedule:<8} {m:>3} {r.simulation_error * 100:>+9.1f}% "
                      f"{r.simulated_makespan_s * 1e3:>12.1f} {r.theory_makespan_s * 1e3:>22.1f} {mean * 1e3:>12.1f} "
                      f"{r.calibration.message_s * 1e3:>10.2f} {cores:>5}  {_parts(r.breakdown[0])} | "
                      f"{_parts(r.breakdown[-1])}")
    print(f"largest |replay error|: {worst * 100:.1f}% (goal <= 10%)")
    return 0 if worst <= 0.10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
