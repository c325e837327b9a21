"""``ppedu compare-tp-pp``: the same tiny GPT, TP over n ranks vs PP over n ranks, measured.

    ppedu compare-tp-pp -n 2                         # same machine: TP's all-reduces are cheap
    ppedu compare-tp-pp -n 2 --latency-ms 5          # a cross-node link: PP's few messages win
    ppedu compare-tp-pp -n 4 --tp 2 --json           # also a TP x PP = 2 x 2 mesh
    torchrun --nproc-per-node=2 -m ppedu.cli compare-tp-pp -n 2
"""

from __future__ import annotations

import argparse
import json
import math
import time

from ppedu.errors import UsageError, check_float, check_int
from ppedu.runtime.cluster import connect
from ppedu.i18n.messages import _

# The flags as check_comparison's messages name them (the mesh rules are its, not repeated here).
FLAGS = {"n": "n", "heads": "--heads", "layers": "--layers", "batch": "--batch", "microbatches": "--microbatches",
         "seq": "--seq", "mesh_tp": "--tp"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", type=int, default=2, help=_("ranks: TP over n and PP over n (1..8 on CPU)"))
    parser.add_argument("--layers", type=int, default=4, help=_("transformer blocks (>= n, default 4)"))
    parser.add_argument("--hidden", type=int, default=64,
                        help=_("hidden size, a multiple of --heads (default 64)"))
    parser.add_argument("--heads", type=int, default=4, help=_("attention heads, divisible by n (default 4)"))
    parser.add_argument("--batch", type=int, default=8, help=_("sequences per step (default 8)"))
    parser.add_argument("--seq", type=int, default=64, help=_("tokens per sequence (1..1024, default 64)"))
    parser.add_argument("-m", "--microbatches", type=int, default=1,
                        help=_("PP micro-batches, dividing --batch (default 1: naive pipeline)"))
    parser.add_argument("--tp", type=int, default=None, help=_("also run a tp x (n/tp) mesh (tp divides n)"))
    parser.add_argument("--latency-ms", type=float, default=0.0, help=_("emulated latency per message (ms)"))
    parser.add_argument("--bandwidth-gbps", type=float, default=math.inf,
                        help=_("emulated link bandwidth in GB/s (default: unlimited)"))
    parser.add_argument("--repeats", type=int, default=3, help=_("measured steps; the fastest is kept (1..20)"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON object"))


def _max_ranks() -> int:
    import torch
    from ppedu.tensor_parallel.compare import MAX_CPU_RANKS  # torch: kept out of `--help`
    return max(MAX_CPU_RANKS, torch.cuda.device_count() if torch.cuda.is_available() else 0)


def validate(args: argparse.Namespace):
    """Check every flag before any rank starts; return the GPTConfig. UsageError names the flag."""
    n = check_int("-n", args.n, 1, _max_ranks())
    layers = check_int("--layers", args.layers, 1, 64)
    heads = check_int("--heads", args.heads, 1, 256)
    hidden = check_int("--hidden", args.hidden, 1, 8192)
    check_int("--batch", args.batch, 1, 4096)
    check_int("--seq", args.seq, 1, 1024)
    check_int("--repeats", args.repeats, 1, 20)
    check_float("--latency-ms", args.latency_ms, 0.0, 10_000.0)
    check_float("--bandwidth-gbps", args.bandwidth_gbps, 1e-6)
    if hidden % heads:
        raise UsageError(_("--hidden must be a multiple of --heads={heads} (got {hidden})").format(heads=heads, hidden=hidden))
    from ppedu.model.gpt import GPTConfig  # torch: kept out of `ppedu compare-tp-pp --help`
    from ppedu.tensor_parallel.compare import check_comparison  # torch: the same
    config = GPTConfig(n_layer=layers, n_head=heads, n_embd=hidden, block_size=args.seq)
    check_comparison(config, n, args.batch, args.seq, args.microbatches, args.tp, FLAGS)
    return config


def run(args: argparse.Namespace) -> int:
    config = validate(args)
    import sys
    import warnings

    from ppedu.tensor_parallel.compare import compare_tp_pp  # torch: kept out of `ppedu compare-tp-pp --help`
    start = time.perf_counter()
    print(_("starting {n} rank(s) ...").format(n=args.n), file=sys.stderr, flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # oversubscription: said once below, in the report
        group = connect(args.n)
    result = compare_tp_pp(args.n, config, args.batch, args.seq, args.microbatches, args.latency_ms,
                           args.bandwidth_gbps, args.repeats, args.tp, group=group,
                           progress=getattr(group, "is_driver", True))
    oversubscribed = bool(getattr(group, "oversubscribed", False))
    if not getattr(group, "is_driver", True):
        return 0
    if args.json:
        print(json.dumps({**result.to_json(), "oversubscribed": oversubscribed,
                          "elapsed_s": round(time.perf_counter() - start, 2)}))
    else:
        print(report(result, oversubscribed))
    return 0


def _fmt_bytes(b: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if b < 1000 or unit == "GB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.2f} {unit}"
        b /= 1000
    return ""


def _pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (a Chinese character takes two)."""
    import unicodedata
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - used, 0)


def report(r, oversubscribed: bool = False) -> str:
    """``compare_tp_pp``'s ``Comparison`` as a small text table (not imported here for its type:
    that would load torch into ``ppedu compare-tp-pp --help``)."""
    n, c, link = r.n, r.config, _("none (same machine)")
    if r.latency_ms or math.isfinite(r.bandwidth_gbps):
        bw = f"{r.bandwidth_gbps} GB/s" if math.isfinite(r.bandwidth_gbps) else _("unlimited bandwidth")
        link = _("{latency} ms per message, {bandwidth}").format(latency=r.latency_ms, bandwidth=bw)
    cols = [(r.tp, f"TP (tp={n})"), (r.pp, f"PP (pp={n}, m={r.microbatches})")]
    if r.mesh is not None:
        cols.append((r.mesh, f"TPxPP ({r.mesh.tp}x{r.mesh.pp})"))
    rows = [(_("all-reduces"), lambda d: str(d.collectives)),
            (_("P2P messages"), lambda d: str(d.p2p_messages)),
            (_("bytes moved (all ranks)"), lambda d: _fmt_bytes(d.bytes)),
            (_("comm time, worst rank"), lambda d: f"{d.comm_time_s * 1e3:.1f} ms"),
            (_("  of which link model"), lambda d: f"{d.link_delay_s * 1e3:.1f} ms"),
            (_("step time"), lambda d: f"{d.step_time_s * 1e3:.1f} ms"),
            (_("params per rank (max)"), lambda d: _fmt_bytes(d.param_bytes_per_rank)),
            (_("activations per rank (max)"), lambda d: _fmt_bytes(d.activation_bytes_per_rank))]
    lines = [_("TP vs PP on {n} ranks: GPT {layers} layers, hidden {hidden}, {heads} heads, batch {batch} x seq "
               "{seq}; emulated link: {link}").format(n=n, layers=c.n_layer, hidden=c.n_embd, heads=c.n_head,
                                                     batch=r.batch, seq=r.seq, link=link),
             _pad(_("per training step"), 28) + "".join(f"{title:>22}" for _, title in cols)]
    lines += [_pad(name, 28) + "".join(f"{fn(m):>22}" for m, _ in cols) for name, fn in rows]
    p = r.predicted
    lines.append(f"{_pad(_('predicted comm (link model)'), 28)}{p.tp.comm_time_s * 1e3:>19.1f} ms"
                 f"{p.pp.comm_time_s * 1e3:>19.1f} ms")
    x = r.crossover_latency_ms
    lines.append((_("theory: PP's step is shorter than TP's above ~{x:.2f} ms latency per message") if x is not None
                  else _("theory: PP's step is shorter than TP's at any latency")).format(x=x)
                 + _(" (whole-model step on one rank: {ms:.1f} ms)").format(ms=r.reference_step_s * 1e3))
    if r.crossover_from_measured_ms is not None:
        lines.append(_("measured steps + the model's slopes: PP is shorter above ~{x:.2f} ms").format(
            x=r.crossover_from_measured_ms))
    lines.append(_("(PP's comm time includes waiting for the neighbour's compute: the bubble)"))
    if oversubscribed:
        lines.append(_("note: {n} ranks share fewer CPU cores: compute timings are distorted, "
                       "counts are exact").format(n=n))
    return "\n".join(lines)
