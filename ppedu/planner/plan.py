"""A parallel layout for a real model -> bytes per GPU, bubble, and whether it fits.

    spec = get_model("gpt3-175b")
    result = plan(spec, Layout(tp=8, pp=8, dp=1, m=64, micro_batch_size=1, recompute="selective"))
    result["fits"], result["activation_bytes_per_gpu"], result["bubble_fraction"]

Per pipeline rank r: its layers (virtual stages r, r+p, ... for interleaving), parameters / tp,
mixed-precision Adam bytes (ZeRO-1 shards the optimizer state over dp), and activations = one
layer's bytes (``ppedu.planner.formulas``) x its layers per chunk x the micro-batch chunks it
holds at its peak under the schedule (``ppedu.schedules.theory.peak_activations``: 1F1B's first
rank holds p, GPipe m, interleaved 2(p-1) + (v-1)p + 1 chunks). The busiest rank is "per GPU".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ppedu.errors import UsageError, check_choice, check_float, check_int
from ppedu.planner import formulas as fm
from ppedu.schedules import build_schedule
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.schedules.theory import peak_activations, theory_bubble
from ppedu.i18n.messages import N_, _

GIB = 2 ** 30
CHUNKED = ("interleaved", "interleaved-zb", "looped-bfs")   # v model chunks per rank, looped
V_SHAPED = ("zbv", "dualpipev")                             # two chunks: stages r and 2p-1-r


@dataclass
class Layout:
    """How the model is cut and run: tp x pp x dp GPUs, m micro-batches of b sequences each."""
    tp: int = 1
    pp: int = 1
    dp: int = 1
    m: int = 1
    micro_batch_size: int = 1
    schedule: str = "1f1b"
    v: int = 1
    recompute: str = "none"
    sequence_parallel: bool | None = None     # None: on when tp > 1 (Korthikanti et al. 2022)
    zero1: bool = False                       # shard optimizer state over dp (ZeRO stage 1)
    gpu_memory_gb: float = 80.0               # GiB per GPU (an "80GB" A100/H100 has 80 GiB)
    bytes_per_param: int = 16                 # model state: 16 (ZeRO's mixed precision) or 18 (Megatron bf16)
    activation_bytes: int = 2                 # bytes per stored activation value: 2 (bf16/fp16) or 4 (fp32)

    def __post_init__(self):
        self.tp, self.pp, self.dp = (check_int(n, getattr(self, n), 1, 1 << 16) for n in ("tp", "pp", "dp"))
        self.m = check_int("m", self.m, 1, 1 << 20)
        self.micro_batch_size = check_int("micro_batch_size", self.micro_batch_size, 1, 1 << 16)
        self.v = check_int("v", self.v, 1, 64)
        check_choice("recompute", self.recompute, fm.RECOMPUTE)
        self.gpu_memory_gb = check_float("gpu_memory_gb", self.gpu_memory_gb, 0.001, 1e6)
        fm.grad_bytes(self.bytes_per_param)      # 16 or 18, else UsageError
        check_choice("activation_bytes", self.activation_bytes, (2, 4))
        if self.sequence_parallel is None:
            self.sequence_parallel = self.tp > 1
        if self.schedule in V_SHAPED:
            self.v = 2
        elif self.v > 1 and self.schedule not in CHUNKED:
            raise UsageError(_("v={v} needs a chunked schedule ({chunked}; got {schedule!r})").format(v=self.v, chunked=', '.join(CHUNKED), schedule=self.schedule))


def _check(spec, layout: Layout) -> None:
    if spec.heads % layout.tp:
        raise UsageError(_("tp must divide heads={heads} (got tp={tp})").format(heads=spec.heads, tp=layout.tp))
    stages = layout.pp * layout.v
    if spec.layers < stages:
        raise UsageError(_("pp*v={stages} virtual stages need at least as many layers (model has {layers})").format(stages=stages, layers=spec.layers))
    if layout.schedule == "interleaved" and layout.m % layout.pp:
        raise UsageError(_("m must be a multiple of p={pp} for interleaved (got m={m})").format(pp=layout.pp, m=layout.m))
    peak_activations(layout.schedule, layout.pp, layout.m, 0, layout.v)   # unknown -> UsageError


def bubble(layout: Layout) -> float:
    """Idle fraction at t_F = t_B = t_W: the closed form, else the simulator (small-m corners)."""
    closed = theory_bubble(layout.schedule, layout.pp, layout.m, layout.v)
    if closed is not None:
        return closed
    schedule = build_schedule(layout.schedule, layout.pp, layout.m, layout.v)
    return simulate(schedule, CostModel(t_f=1.0, t_b=1.0, t_w=1.0)).bubble_fraction


def stage_layers(layers: int, stages: int) -> list[int]:
    """Layers per virtual stage, as equal as possible (the first stages take the remainder)."""
    q, r = divmod(layers, stages)
    return [q + (s < r) for s in range(stages)]


def floor_split_layers(layers: int, stages: int) -> list[range]:
    """The split many tutorials write (seed 001's ``layers_per_rank = num_layers // pp_size``): stage
    s runs layers s q ... (s+1) q - 1 with q = layers // stages, so the last ``layers % stages``
    layers run on no stage. Kept to show what it drops; ``stage_layers`` places every layer."""
    q = layers // stages
    return [range(s * q, (s + 1) * q) for s in range(stages)]


def rank_memory(spec, layout: Layout, rank: int) -> dict:
    """Parameters and bytes held by pipeline rank ``rank`` (one GPU of its tp group)."""
    p, v, t = layout.pp, layout.v, layout.tp
    per_stage = stage_layers(spec.layers, p * v)
    mine = [rank, 2 * p - 1 - rank] if layout.schedule in V_SHAPED else [c * p + rank for c in range(v)]
    layers = sum(per_stage[s] for s in mine)
    first, last = 0 in mine, p * v - 1 in mine
    params = layers * fm.layer_params(spec) + (fm.embedding_params(spec) if first else 0)
    if last:
        params += fm.head_params(spec) - (spec.vocab * spec.hidden
                                          if spec.tied_embeddings and first else 0)
    params //= t
    held = peak_activations(layout.schedule, p, layout.m, rank, v)   # micro-batch chunks at the peak
    s, b, sp = spec.seq, layout.micro_batch_size, layout.sequence_parallel
    per_layer = fm.layer_activation_bytes(s, b, spec.hidden, spec.heads, t, sp, layout.recompute,
                                          spec.ffn_width, spec.kv, spec.swiglu, spec.dropout,
                                          layout.activation_bytes)
    acts = held * (layers / v) * per_layer
    per_chunk = min(held / v, layout.m)   # the embedding / output layer sit in one chunk of v
    if first:
        acts += per_chunk * fm.embedding_activation_bytes(s, b, spec.hidden, t, sp, spec.dropout)
    if last:
        acts += per_chunk * fm.head_activation_bytes(s, b, spec.hidden, spec.vocab, t, layout.activation_bytes)
    optimizer = fm.OPTIMIZER_BYTES * params / (layout.dp if layout.zero1 else 1)
    out = {"rank": rank, "layers": layers, "params": params,
           "param_bytes": fm.WEIGHT_BYTES * params,
           "grad_bytes": fm.grad_bytes(layout.bytes_per_param) * params,
           "optimizer_bytes": optimizer, "activation_bytes": acts, "microbatches_held": held}
    out["total_bytes"] = out["param_bytes"] + out["grad_bytes"] + optimizer + acts
    return out


def plan(spec, layout: Layout) -> dict:
    """Bytes per GPU of the busiest pipeline rank, the bubble, and whether the layout fits."""
    _check(spec, layout)
    ranks = [rank_memory(spec, layout, r) for r in range(layout.pp)]
    busiest = max(ranks, key=lambda r: r["total_bytes"])
    budget = layout.gpu_memory_gb * GIB
    fits = busiest["total_bytes"] <= budget
    return {"model": asdict(spec), "layout": asdict(layout),
            "gpus": layout.tp * layout.pp * layout.dp,
            "global_batch": layout.m * layout.micro_batch_size * layout.dp,
            "params_total": fm.total_params(spec), "busiest_rank": busiest["rank"],
            "params_per_gpu": busiest["params"], "param_bytes_per_gpu": busiest["param_bytes"],
            "grad_bytes_per_gpu": busiest["grad_bytes"],
            "optimizer_bytes_per_gpu": busiest["optimizer_bytes"],
            "activation_bytes_per_gpu": busiest["activation_bytes"],
            "total_bytes_per_gpu": busiest["total_bytes"],
            "bubble_fraction": bubble(layout),
            "fits": fits, "reason": _reason(busiest, layout, fits), "stages": ranks,
            "activation_method": N_("formula: Korthikanti et al. 2022, sec. 4 (Table 2)"),
            "notes": notes(spec, layout)}


def _reason(rank: dict, layout: Layout, fits: bool) -> str:
    need, have = rank["total_bytes"] / GIB, layout.gpu_memory_gb
    parts = _("weights {weights:.1f}, grads {grads:.1f}, optimizer {optimizer:.1f}, activations "
              "{activations:.1f} GiB ({held})").format(
        weights=rank["param_bytes"] / GIB, grads=rank["grad_bytes"] / GIB, optimizer=rank["optimizer_bytes"] / GIB,
        activations=rank["activation_bytes"] / GIB, held=_held(rank, layout))
    return (_("rank {rank} needs {need:.1f} GiB, fits in {have:g} GiB: {parts}") if fits else
            _("rank {rank} needs {need:.1f} GiB, does not fit in {have:g} GiB: {parts}")).format(
        rank=rank["rank"], need=need, have=have, parts=parts)


def _held(rank: dict, layout: Layout) -> str:
    """What the activations are: micro-batches of the rank's layers, or chunks of 1/v of them."""
    held, layers, v = rank["microbatches_held"], rank["layers"], layout.v
    if v == 1:
        return _("{held} micro-batches of {layers} layers").format(held=held, layers=layers)
    return _("{held} micro-batch chunks of {layers:g} layers, {worth:.3g} micro-batches' worth").format(
        held=held, layers=layers / v, worth=held / v)


def notes(spec, layout: Layout) -> list[str]:
    """What the numbers leave out or approximate, said once in every plan."""
    other = 18 if layout.bytes_per_param == 16 else 16
    out = [_("{bytes} bytes per parameter: {state} (--bytes-per-param {other}: {other_state}); no framework "
             "buffers or fragmentation").format(bytes=layout.bytes_per_param, state=_(fm.STATE_BYTES[layout.bytes_per_param]),
                                               other=other, other_state=_(fm.STATE_BYTES[other]))]
    if layout.activation_bytes == 4:
        out.append(_("fp32 activations (no mixed precision): every stored value takes 4 bytes, dropout masks 1"))
    if spec.approximate:
        out.append(_("{name}: the activation formula was derived for GPT blocks; SwiGLU (3 ffn-wide "
                     "tensors), grouped-query attention (K, V x kv/a) are generalised, not published").format(name=spec.name))
    if not spec.dropout:
        out.append(_("no dropout: the 1-byte masks of eq. 1 are left out"))
    if layout.recompute == "full":
        out.append(_("full recomputation: the one layer being recomputed during its backward is not counted"))
    if spec.swiglu and layout.recompute == "none":
        out.append(_("Llama training uses FlashAttention, which never stores the s x s softmax: "
                     "'selective' is the realistic setting"))
    return out


def choose_m(spec, layout: Layout, global_batch: int, max_bubble: float) -> dict:
    """Source document 002 sec. 5, done right: the smallest m whose bubble is at most
    ``max_bubble`` and that still fits, with the global batch fixed, so m = B / (b * dp) and every
    candidate m sets its micro-batch size b = B / (m * dp)."""
    check_int("global_batch", global_batch, 1)
    check_float("max_bubble", max_bubble, 0.0, 1.0)
    if global_batch % layout.dp:
        raise UsageError(_("global_batch must be a multiple of dp={dp} (got {global_batch})").format(dp=layout.dp, global_batch=global_batch))
    per_replica, candidates, chosen = global_batch // layout.dp, [], None
    for m in (m for m in range(1, per_replica + 1) if per_replica % m == 0):
        trial = Layout(**{**asdict(layout), "m": m, "micro_batch_size": per_replica // m})
        try:
            result = plan(spec, trial)
        except UsageError:
            continue                      # e.g. interleaved needs m % p == 0
        candidates.append({k: result[k] for k in ("bubble_fraction", "fits", "total_bytes_per_gpu",
                                                  "activation_bytes_per_gpu")}
                          | {"m": m, "micro_batch_size": per_replica // m})
        if chosen is None and result["fits"] and result["bubble_fraction"] <= max_bubble:
            chosen = result
    return {"chosen": chosen, "candidates": candidates, "global_batch": global_batch,
            "max_bubble": max_bubble}
