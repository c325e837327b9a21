"""The generators of the book's computed blocks that count real models' bytes and parameters
(``ppedu.planner``: ``plan``, ``choose_m``, ``formulas``). They register with
``ppedu.instructor.book.blocks.GENERATORS`` like the others; nothing here is a formula of its own.
"""

from __future__ import annotations

from dataclasses import replace

from ppedu.instructor.book.blocks import generator
from ppedu.planner import formulas as fm
from ppedu.planner.models import get_model
from ppedu.planner.plan import GIB, Layout, choose_m, plan

# bytes per parameter: the weights alone (fp16/bf16) or mixed-precision Adam's model state (ZeRO's 16)
STATE_BYTES = {"weights": fm.WEIGHT_BYTES, "adam": fm.WEIGHT_BYTES + fm.grad_bytes(16) + fm.OPTIMIZER_BYTES}


def _plan(model: str, **layout) -> dict:
    return plan(get_model(model), Layout(**layout))


@generator
def plan_table(model: str, rows: list[list], **layout) -> str:
    """Chapter 3: GiB on the busiest GPU (activations) and whether it fits, one row per
    ``[label, recompute, sequence_parallel]``."""
    budget = layout.get("gpu_memory_gb", 80.0)
    lines = [f"| layout | GiB on GPU 0 (of which activations) | fits {budget:g} GiB? |", "| --- | --- | --- |"]
    for label, recompute, sp in rows:
        result = _plan(model, recompute=recompute, sequence_parallel=sp, **layout)
        lines.append(f"| {label} | {result['total_bytes_per_gpu'] / GIB:.1f} "
                     f"({result['activation_bytes_per_gpu'] / GIB:.1f}) | {'yes' if result['fits'] else 'no'} |")
    return "\n".join(lines)


@generator
def plan_gib(model: str, what: str = "total", **layout) -> str:
    """GiB per GPU of one plan: ``total``, ``activations`` or ``state`` (weights, grads, optimizer)."""
    result = _plan(model, **layout)
    state = sum(result[k] for k in ("param_bytes_per_gpu", "grad_bytes_per_gpu", "optimizer_bytes_per_gpu"))
    value = {"total": result["total_bytes_per_gpu"], "activations": result["activation_bytes_per_gpu"],
             "state": state}[what]
    return f"{value / GIB:.0f}" if value / GIB >= 100 else f"{value / GIB:.1f}"


@generator
def chosen_m(model: str, global_batch: int, max_bubble: float, what: str = "m", **layout) -> str:
    """``ppedu plan --choose-m``: the chosen ``m``, its ``b``, ``gib`` per GPU or ``bubble`` (%),
    or ``largest_unfit``: the largest m that does not fit."""
    found = choose_m(get_model(model), Layout(**layout), global_batch, max_bubble)
    chosen = found["chosen"]
    if what == "largest_unfit":
        return str(max(c["m"] for c in found["candidates"] if not c["fits"]))
    return {"m": str(chosen["layout"]["m"]), "b": str(chosen["layout"]["micro_batch_size"]),
            "gib": f"{chosen['total_bytes_per_gpu'] / GIB:.1f}",
            "bubble": f"{100 * chosen['bubble_fraction']:.1f} %"}[what]


def _params(model: str, what: str, layers: int, vocab: int) -> int:
    spec = get_model(model)
    spec = replace(spec, vocab=vocab) if vocab else spec
    body = layers * fm.layer_params(spec)
    return {"layer": body, "embedding": spec.vocab * spec.hidden,
            "first": body + fm.embedding_params(spec), "last": body + fm.head_params(spec),
            "total": fm.total_params(spec)}[what]


@generator
def params_b(model: str, what: str, layers: int = 1, vocab: int = 0, digits: int = 2) -> str:
    """Parameters in billions: ``layer`` (x ``layers``), ``embedding``, ``first`` (embedding +
    layers), ``last`` (layers + head) or ``total`` of a named model, ``vocab`` overriding its
    vocabulary."""
    return f"{_params(model, what, layers, vocab) / 1e9:.{digits}f}"


@generator
def params_gb(model: str, what: str, state: str, layers: int = 1, vocab: int = 0, digits: int = 0) -> str:
    """GB (10^9 bytes) those parameters (``what``, ``layers``, ``vocab`` as in ``params_b``) take:
    ``state="weights"`` counts fp16/bf16 weights alone (inference), ``"adam"`` the model state of
    mixed-precision Adam training (``STATE_BYTES``)."""
    return f"{_params(model, what, layers, vocab) * STATE_BYTES[state] / 1e9:.{digits}f}"


@generator
def layer_bytes(s: int, b: int, h: int, a: int, times: int = 1, value_bytes: int = 2,
                dropout: bool = True) -> str:
    """Korthikanti et al.'s per-layer activation bytes (``ppedu.planner.formulas``), x ``times``."""
    value = times * fm.layer_activation_bytes(s, b, h, a, value_bytes=value_bytes, dropout=dropout)
    return f"{value:,.0f}"
