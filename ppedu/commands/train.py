"""`ppedu train`: run a schedule on real ranks and print the measured bubble beside theory."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ppedu.schedules.actions import SCHEDULE_NAMES
from ppedu.schedules.builders import default_v
from ppedu.training.config import MAX_M, MAX_P, MAX_V, TrainConfig
from ppedu.errors import UsageError
from ppedu.runtime.cluster import connect
from ppedu.i18n.messages import N_, _

_METHOD = {"cuda_allocator": N_("measured, CUDA allocator peak (torch.cuda.max_memory_allocated)"),
           "saved_tensor_hooks": N_("measured, bytes autograd saved (saved-tensor hooks, step 0)"),
           "held_tensors": N_("counted, bytes of the activation tensors each rank holds (timed workload)")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig   # the defaults are TrainConfig's, which checks every value once
    parser.add_argument("--schedule", default=d.schedule, help=_("one of {schedule_names}").format(schedule_names=', '.join(SCHEDULE_NAMES)))
    parser.add_argument("-p", type=int, default=d.p, help=_("pipeline ranks (stages), 1..{max_p} (default {p})").format(max_p=MAX_P, p=d.p))
    parser.add_argument("-m", type=int, default=d.m, help=_("micro-batches per step, 1..{max_m} (default {m})").format(max_m=MAX_M, m=d.m))
    parser.add_argument("--v", type=int, default=None,
                        help=_("model chunks per GPU: 2..{max_v} for interleaved, looped-bfs and interleaved-zb (default 2); zbv and dualpipev use 2; else 1 (as simulate)").format(max_v=MAX_V))
    parser.add_argument("--workload", default=d.workload,
                        help=_("timed (fixed waits, like GPU kernels: faithful bubbles on any CPU) or "
                             "model (the tiny GPT, real compute)"))
    parser.add_argument("--tf", type=float, default=d.tf_ms, help=_("timed: forward ms per rank (default {tf_ms:g})").format(tf_ms=d.tf_ms))
    parser.add_argument("--tb", type=float, default=d.tb_ms, help=_("timed: backward ms per rank (default {tb_ms:g})").format(tb_ms=d.tb_ms))
    parser.add_argument("--tw", type=float, default=d.tw_ms,
                        help=_("timed: weight-gradient ms (zb1 runs it as W; others add it to B)"))
    parser.add_argument("--steps", type=int, default=d.steps, help=_("training steps (default {steps})").format(steps=d.steps))
    parser.add_argument("--partition", default=d.partition, help=_("uniform, balanced or memory"))
    parser.add_argument("--latency-ms", type=float, default=d.latency_ms, help=_("emulated link latency per message"))
    parser.add_argument("--bandwidth-gbps", type=float, default=d.bandwidth_gbps,
                        help=_("emulated link bandwidth in GB/s (default: unlimited)"))
    parser.add_argument("--check-grads", action="store_true",
                        help=_("model workload: compare gradients with a single-process model"))
    parser.add_argument("--recompute", default=d.recompute,
                        help=_("model workload: activation recomputation none, selective (attention "
                             "core) or full (each block re-runs its forward in backward)"))
    parser.add_argument("--trace", metavar="FILE", help=_("write a Chrome/Perfetto trace of the last step"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON object"))


def check_trace_path(path: str | None) -> None:
    """Refuse a --trace file that cannot be written *before* the run, not after it."""
    if path is None:
        return
    from pathlib import Path
    folder = Path(path).expanduser().resolve().parent
    if not folder.is_dir():
        raise UsageError(_("--trace must be a file in an existing folder (got {path!r}: no folder {folder!r})").format(path=path, folder=str(folder)))
    if Path(path).is_dir() or not os.access(folder, os.W_OK):
        raise UsageError(_("--trace must be a writable file (got {path!r})").format(path=path))


def _plural(n: int) -> str:
    return (_("{n} micro-batch") if n == 1 else _("{n} micro-batches")).format(n=n)


def run(args: argparse.Namespace) -> int:
    from ppedu.training.engine import train  # torch: kept out of `ppedu train --help`
    check_trace_path(args.trace)
    v = args.v if args.v is not None else default_v(args.schedule)   # the same default as `simulate`
    cfg = TrainConfig(schedule=args.schedule, p=args.p, m=args.m, v=v, workload=args.workload,
                      tf_ms=args.tf, tb_ms=args.tb, tw_ms=args.tw, steps=args.steps,
                      partition=args.partition, latency_ms=args.latency_ms,
                      bandwidth_gbps=args.bandwidth_gbps, recompute=args.recompute,
                      check_grads=args.check_grads)
    print(_("starting {p} ranks ...").format(p=cfg.p), file=sys.stderr, flush=True)
    group = connect(cfg.p)
    show = cfg.steps > 1 and group.is_driver
    result = train(cfg, group=group,
                   progress=(lambda i, n: print(_("step {i}/{n}").format(i=i, n=n), file=sys.stderr, flush=True)) if show else None)
    if not group.is_driver:
        return 0
    if args.trace:
        result.timeline.save_chrome_trace(args.trace)
    summary = result.summary()
    if args.json:
        print(json.dumps(summary))
        return 0
    print(result.timeline.text_gantt(unit=(cfg.tf_ms / 1e3 / cfg.v) if cfg.workload == "timed" else None))
    theory = result.theory_bubble_fraction
    print(_("{schedule} p={p} m={m} v={v} workload={workload}").format(schedule=cfg.schedule, p=cfg.p, m=cfg.m, v=cfg.v, workload=cfg.workload))
    steps = _("mean of {steps} steps; the last {last:.1f} ms, ").format(steps=cfg.steps, last=result.timeline.makespan * 1e3) \
        if cfg.steps > 1 else ""
    print(_("step time        {step_time_s:8.1f} ms   ({steps}simulated {simulated_makespan_s:.1f} ms; theory (mean costs) {theory_makespan_s:.1f} ms)").format(step_time_s=result.step_time_s * 1000.0, steps=steps, simulated_makespan_s=result.simulated_makespan_s * 1000.0, theory_makespan_s=result.theory_makespan_s * 1000.0))
    print(_("bubble measured  {measured_bubble_fraction:8.3f}").format(measured_bubble_fraction=result.measured_bubble_fraction))
    print(_("bubble simulated {simulated_bubble_fraction:8.3f}   (the step replayed from its measured parts)").format(simulated_bubble_fraction=result.simulated_bubble_fraction))
    print(_("bubble theory    {theory:8.3f}").format(theory=theory) if theory is not None else _("bubble theory         n/a"))
    for r in result.per_rank:
        print(_("  rank {rank}: busy {busy_s:7.1f} ms, idle {idle_s:7.1f} ms, peak activations {plural} ({peak_activation_bytes:.2f} MB), sent {bytes_sent:.2f} MB").format(rank=r.rank, busy_s=r.busy_s * 1000.0, idle_s=r.idle_s * 1000.0, plural=_plural(r.peak_inflight_microbatches), peak_activation_bytes=r.peak_activation_bytes / 1000000.0, bytes_sent=r.bytes_sent / 1000000.0))
    print(_("activation memory: {method}").format(method=_(_METHOD[result.activation_memory_method])))
    _print_breakdown(result)
    if result.partition is not None:
        print(result.partition.table())
    if result.grad_max_abs_diff is not None:
        print(_("gradients vs single process: max |diff| = {grad_max_abs_diff:.2e}").format(grad_max_abs_diff=result.grad_max_abs_diff))
    for note in result.notes:
        print(_("note: {note}").format(note=note))
    if args.trace:
        print(_("trace written to {trace} (open it in ui.perfetto.dev)").format(trace=args.trace))
    return 0


def _print_breakdown(result) -> None:
    """Where each rank's step went (ppedu.training.calibration.breakdown), and how well the
    simulator, fed those parts, replays the step."""
    print(_("where the step went (ms): compute / overhead between actions / messages / bubble"))
    for row in result.breakdown:
        print(f"  rank {row.rank}: {row.compute_s * 1e3:7.1f} / {row.overhead_s * 1e3:6.1f} / "
              f"{row.messages_s * 1e3:6.1f} / {row.bubble_s * 1e3:7.1f}")
    cal = result.calibration
    print(_("simulated vs measured step: {simulation_error:+.1f}% (median over the steps, each replayed from its measured parts; one message {message_s:.2f} ms, from {message_samples} waited receives)").format(simulation_error=result.simulation_error * 100, message_s=cal.message_s * 1000.0, message_samples=cal.message_samples))
