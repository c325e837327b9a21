"""`ppedu plan`: memory per GPU and the bubble of a parallel layout for a real model (no GPUs needed)."""

from __future__ import annotations

import argparse
import json

from ppedu.errors import UsageError
from ppedu.planner.models import ALIASES, MODELS, ModelSpec, get_model
from ppedu.planner.plan import Layout, choose_m, plan

from ppedu.i18n.messages import _


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help=_("one of {models}; or give the shape:").format(models=', '.join([*MODELS, *ALIASES])))
    for flag, what in (("--layers", _("transformer layers")), ("--hidden", _("hidden size h")),
                       ("--heads", _("attention heads a")), ("--seq", _("sequence length s (default 2048)")),
                       ("--vocab", _("vocabulary (default 51200)"))):
        parser.add_argument(flag, type=int, help=what)
    parser.add_argument("--tp", type=int, default=1, help=_("tensor-parallel ranks T (default 1)"))
    parser.add_argument("-p", type=int, default=1, help=_("pipeline stages (default 1)"))
    parser.add_argument("--dp", type=int, default=1, help=_("data-parallel replicas (default 1)"))
    parser.add_argument("-m", type=int, default=1, help=_("micro-batches per step (default 1)"))
    parser.add_argument("--micro-batch-size", type=int, default=1, help=_("sequences per micro-batch b"))
    parser.add_argument("--schedule", default="1f1b", help=_("1f1b, gpipe, interleaved (--v), zb1, zb2, zbv, ..."))
    parser.add_argument("--v", type=int, default=1, help=_("model chunks per rank (interleaved)"))
    parser.add_argument("--recompute", default="none", help=_("none, selective (attention core) or full"))
    parser.add_argument("--gpu-memory-gb", type=float, default=80.0, help=_("GiB per GPU (default 80)"))
    parser.add_argument("--no-sequence-parallel", action="store_true",
                        help=_("turn off sequence parallelism (on by default when --tp > 1)"))
    parser.add_argument("--zero1", action="store_true", help=_("shard the optimizer state over --dp"))
    parser.add_argument("--bytes-per-param", type=int, default=16,
                        help=_("model state per parameter: 16 (ZeRO's mixed precision, fp16 grads; default) "
                             "or 18 (Megatron's bf16 default: fp32 gradients)"))
    parser.add_argument("--activation-bytes", type=int, default=2,
                        help=_("bytes per stored activation: 2 (bf16/fp16, default) or 4 (fp32 training)"))
    parser.add_argument("--choose-m", action="store_true",
                        help=_("pick the smallest m with bubble <= --max-bubble that fits (needs --global-batch)"))
    parser.add_argument("--global-batch", type=int, help=_("sequences per step B (for --choose-m)"))
    parser.add_argument("--max-bubble", type=float, default=0.1, help=_("bubble target for --choose-m"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON object"))


def model_from_args(args: argparse.Namespace):
    """A named model, or one built from --layers --hidden --heads [--seq --vocab]."""
    shape = (args.layers, args.hidden, args.heads)
    if args.model:
        if any(x is not None for x in shape):
            raise UsageError(_("give either --model or --layers/--hidden/--heads, not both"))
        return get_model(args.model)
    if any(x is None for x in shape):
        raise UsageError(_("give --model NAME or all of --layers, --hidden, --heads"))
    return ModelSpec("custom", *shape, seq=args.seq or 2048, vocab=args.vocab or 51200)


def run(args: argparse.Namespace) -> int:
    spec = model_from_args(args)
    layout = Layout(tp=args.tp, pp=args.p, dp=args.dp, m=args.m, micro_batch_size=args.micro_batch_size,
                    schedule=args.schedule, v=args.v, recompute=args.recompute,
                    sequence_parallel=False if args.no_sequence_parallel else None,
                    zero1=args.zero1, gpu_memory_gb=args.gpu_memory_gb,
                    bytes_per_param=args.bytes_per_param, activation_bytes=args.activation_bytes)
    if args.choose_m:
        if args.global_batch is None:
            raise UsageError(_("--choose-m needs --global-batch B (sequences per step)"))
        search = choose_m(spec, layout, args.global_batch, args.max_bubble)
        result = search["chosen"]
        if args.json:
            print(json.dumps(search))
            return 0
        _print_candidates(search)
        if result is None:
            return 0
    else:
        result = plan(spec, layout)
        if args.json:
            print(json.dumps(result))
            return 0
    _print_plan(result)
    return 0


def _print_plan(result: dict) -> None:
    gib, lay = 2 ** 30, result["layout"]
    print(_("{name}: {params_b:.1f}B parameters on {gpus} GPUs (tp={tp} x pp={pp} x dp={dp}), {schedule} m={m} b={micro_batch_size} recompute={recompute} sequence-parallel={sp} {bytes_per_param} bytes/parameter").format(name=result['model']['name'], params_b=result['params_total'] / 1e9, gpus=result['gpus'], tp=lay['tp'], pp=lay['pp'], dp=lay['dp'], schedule=lay['schedule'], m=lay['m'], micro_batch_size=lay['micro_batch_size'], recompute=lay['recompute'], sp='on' if lay['sequence_parallel'] else 'off', bytes_per_param=lay['bytes_per_param']))
    print(f"{'rank':>4} {_('layers'):>6} {_('params'):>9} {_('weights'):>8} {_('grads'):>8} {'Adam':>8} "
          f"{_('activ.'):>8} {_('held'):>5} {_('total GiB'):>9}")
    for r in result["stages"]:
        print(f"{r['rank']:>4} {r['layers']:>6} {r['params'] / 1e9:>8.2f}B {r['param_bytes'] / gib:>8.1f} "
              f"{r['grad_bytes'] / gib:>8.1f} {r['optimizer_bytes'] / gib:>8.1f} "
              f"{r['activation_bytes'] / gib:>8.1f} {r['microbatches_held']:>5} {r['total_bytes'] / gib:>9.1f}")
    print(_("bubble (idle fraction) {bubble_fraction:.3f}").format(bubble_fraction=result['bubble_fraction']))
    print((_("FITS: ") if result["fits"] else _("DOES NOT FIT: ")) + result["reason"])
    print(_("activations: {activation_method}").format(activation_method=_(result['activation_method'])))
    for note in result["notes"]:
        print(_("note: {note}").format(note=note))


def _print_candidates(search: dict) -> None:
    print(_("global batch {global_batch}, bubble target {max_bubble:.3f}").format(global_batch=search['global_batch'], max_bubble=search['max_bubble']))
    print(f"{'m':>5} {'b':>5} {_('bubble'):>7} {'GiB/GPU':>8} {_('fits')}")
    for c in search["candidates"]:
        print(f"{c['m']:>5} {c['micro_batch_size']:>5} {c['bubble_fraction']:>7.3f} "
              f"{c['total_bytes_per_gpu'] / 2 ** 30:>8.1f} {_('yes') if c['fits'] else _('no')}")
    if search["chosen"] is None:
        print(_("no m fits with the bubble under the target: add GPUs (tp, pp), recompute, or relax the target"))
    else:
        print(_("chosen: m={m}\n").format(m=search['chosen']['layout']['m']))
