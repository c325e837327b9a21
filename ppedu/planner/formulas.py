"""Bytes of a transformer: parameters, mixed-precision Adam state, activations (with sources).

Activations follow Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large
Transformer Models", arXiv 2205.05198), sec. 4.1: per layer, per micro-batch of b sequences of
length s, hidden h, a heads, 16-bit values and 1-byte dropout masks,

    attention  11 sbh + 5 a s^2 b     (QKV input 2, Q and K 4, V 2, projection input 2, mask 1;
                                       softmax 2, its dropout mask 1, dropout output 2)
    MLP        19 sbh                 (inputs of both linears 2 + 8, GELU input 8, mask 1)
    LayerNorms  4 sbh
    total      sbh (34 + 5 a s / h)                                        (eq. 1)

and their Table 2: tensor parallel t: sbh (10 + 24/t + 5as/(ht)) (eq. 2); with sequence
parallelism sbh (34 + 5as/h) / t (eq. 4); selective recomputation (the attention core) drops the
5as/h term (eq. 6: 34 sbh / t with SP); full recomputation keeps each layer's input, 2 sbh.
``layer_activation_bytes`` computes the same terms element by element, so it also covers what the
paper did not derive: fp32 values (the course's tiny GPT), no dropout, GQA (K and V shrink by
kv/a) and SwiGLU (three ffn-wide tensors instead of two); those cases are approximations.
"""

from __future__ import annotations

from ppedu.errors import check_choice, check_int
from ppedu.i18n.messages import N_

RECOMPUTE = ("none", "selective", "full")
# Model state per parameter, two conventions (``Layout.bytes_per_param``):
#   16  mixed-precision Adam as ZeRO counts it (Rajbhandari et al. 2020, sec. 3.1): fp16 weight 2 +
#       fp16 grad 2 + fp32 master weight, momentum and variance 4 + 4 + 4 (the planner's default)
#   18  Megatron-LM's bf16 default: bf16 weight 2 + fp32 main gradient 4 (with --bf16,
#       megatron/training/arguments.py sets accumulate_allreduce_grads_in_fp32 unless
#       --grad-reduce-in-bf16) + the same fp32 master weight and Adam moments 12; DeepSpeed's
#       BF16_Optimizer also keeps fp32 gradients (fp32_groups_gradients)
WEIGHT_BYTES, OPTIMIZER_BYTES = 2, 12
STATE_BYTES = {16: N_("fp16/bf16 weights and grads, fp32 master weights and Adam moments (ZeRO's count)"),
               18: N_("bf16 weights, fp32 gradients, fp32 master weights and Adam moments (Megatron's bf16)")}
GRAD_BYTES = 2   # the 16-byte convention's gradient; ``grad_bytes`` gives either


def grad_bytes(bytes_per_param: int) -> int:
    """Bytes of one parameter's gradient under the 16- or 18-byte convention (2 or 4)."""
    check_choice("bytes_per_param", bytes_per_param, tuple(STATE_BYTES))
    return bytes_per_param - WEIGHT_BYTES - OPTIMIZER_BYTES


def layer_params(spec) -> int:
    """Parameters of one transformer layer. GPT (Megatron-LM 2021, sec. 5.1): 12h^2 + 13h."""
    h, f, hd = spec.hidden, spec.ffn_width, spec.hidden // spec.heads
    kv_width = spec.kv * hd
    if spec.swiglu:  # Llama: no biases, RMSNorm weight only, gate/up/down
        return 2 * h * h + 2 * h * kv_width + 3 * h * f + 2 * h
    return (h * (h + 2 * kv_width) + h + 2 * kv_width) + (h * h + h) + (2 * h * f + f + h) + 4 * h


def embedding_params(spec) -> int:
    """Token (and learned position) embedding of the first stage."""
    return spec.vocab * spec.hidden + (spec.seq * spec.hidden if spec.learned_positions else 0)


def head_params(spec) -> int:
    """Final norm + output layer of the last stage. Tied embeddings still need a copy of the
    word embedding there when the first and last stage differ (Megatron keeps one and all-reduces
    its gradient); ``total_params`` counts it once."""
    norm = spec.hidden if spec.swiglu else 2 * spec.hidden
    return norm + spec.vocab * spec.hidden


def total_params(spec) -> int:
    """All parameters. For GPT: 12 L h^2 (1 + 13/(12h) + (V+s)/(12 L h)) (Megatron-LM 2021, sec. 5.1)
    plus the final LayerNorm."""
    head = head_params(spec) - (spec.vocab * spec.hidden if spec.tied_embeddings else 0)
    return spec.layers * layer_params(spec) + embedding_params(spec) + head


def layer_activation_bytes(s: int, b: int, h: int, a: int, t: int = 1, sp: bool = False,
                           recompute: str = "none", ffn: int = 0, kv: int = 0, swiglu: bool = False,
                           dropout: bool = True, value_bytes: int = 2) -> float:
    """Bytes one transformer layer keeps for backward for one micro-batch (Korthikanti et al. 2022).

    ``t`` tensor-parallel ranks, ``sp`` sequence parallelism (the replicated LayerNorm/dropout
    activations are split along the sequence too), ``recompute`` none | selective | full.
    Defaults give eq. 1: s b h (34 + 5 a s / h).
    """
    check_choice("recompute", recompute, RECOMPUTE)
    for name, value in (("s", s), ("b", b), ("h", h), ("a", a), ("t", t)):
        check_int(name, value, 1)
    e, f, kv_share = value_bytes, ffn or 4 * h, (kv or a) / a
    sbh = s * b * h
    outside = t if sp else 1               # what TP alone leaves replicated, SP splits
    if recompute == "full":
        return e * sbh / outside           # the layer's input only (paper: 2 sbh)
    replicated = 4 * e * sbh + (2 * sbh if dropout else 0)  # 2 LN, QKV and fc1 inputs; 2 masks
    split = (e * sbh * (1 + 2 * kv_share)       # Q, K, V
             + e * sbh                          # attention-output projection input
             + (3 if swiglu else 2) * e * s * b * f)   # GELU input + fc2 input (fused SwiGLU: 3)
    core = 0.0 if recompute == "selective" else \
        a * s * s * b * ((2 * e + 1) if dropout else e)   # softmax (+ its mask and dropout output)
    return replicated / outside + (split + core) / t


def embedding_activation_bytes(s: int, b: int, h: int, t: int = 1, sp: bool = False,
                               dropout: bool = True) -> float:
    """First stage, per micro-batch: the embedding-dropout mask s b h / t (sec. 4.3; with SP)."""
    return s * b * h / (t if sp else 1) if dropout else 0.0


def head_activation_bytes(s: int, b: int, h: int, vocab: int, t: int = 1, value_bytes: int = 2) -> float:
    """Last stage, per micro-batch: LayerNorm, output projection and cross entropy,
    4 s b h (1 + V/h) / t (sec. 4.3) with 16-bit values; ``value_bytes`` = 4 doubles it."""
    return 2 * value_bytes * s * b * h * (1 + vocab / h) / t
