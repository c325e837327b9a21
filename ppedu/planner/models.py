"""Named model shapes for ``ppedu plan``, each with the source of its numbers.

GPT models (GELU MLP of width 4h, learned positions, tied embeddings) are the family Korthikanti
et al. 2022 derived their activation formula for. Llama models use a SwiGLU MLP (three matrices,
width ``ffn``), grouped-query attention (``kv_heads`` < ``heads`` from Llama 2 70B on), RMSNorm,
rotary positions and untied embeddings; the planner generalises the formula to them
(``ppedu.planner.formulas``), which is an approximation the plan says out loud.
"""

from __future__ import annotations

from dataclasses import dataclass

from ppedu.errors import UsageError, check_int
from ppedu.i18n.messages import _


@dataclass(frozen=True)
class ModelSpec:
    """The shape of a decoder-only transformer, enough to count its bytes."""
    name: str
    layers: int
    hidden: int
    heads: int
    seq: int
    vocab: int
    ffn: int = 0                 # MLP width; 0 means GPT's 4 * hidden
    kv_heads: int = 0            # grouped-query attention; 0 means heads (multi-head attention)
    swiglu: bool = False         # gated MLP: gate, up, down matrices
    tied_embeddings: bool = True
    learned_positions: bool = True
    dropout: bool = True         # GPT-3 / Megatron train with dropout; Llama without
    source: str = "explicit shape"

    def __post_init__(self):
        for name in ("layers", "hidden", "heads", "seq", "vocab"):
            check_int(name, getattr(self, name), 1)
        if self.hidden % self.heads:
            raise UsageError(_("hidden must be a multiple of heads={heads} (got {hidden})").format(heads=self.heads, hidden=self.hidden))

    @property
    def ffn_width(self) -> int:
        return self.ffn or 4 * self.hidden

    @property
    def kv(self) -> int:
        return self.kv_heads or self.heads

    @property
    def approximate(self) -> bool:
        """True when the activation formula was generalised beyond the GPT block it was derived for."""
        return self.swiglu or self.kv != self.heads or self.ffn_width != 4 * self.hidden


def _llama(name, layers, hidden, heads, kv, ffn, seq, vocab, source) -> ModelSpec:
    return ModelSpec(name, layers, hidden, heads, seq, vocab, ffn=ffn, kv_heads=kv, swiglu=True,
                     tied_embeddings=False, learned_positions=False, dropout=False, source=source)


MODELS: dict[str, ModelSpec] = {m.name: m for m in (
    ModelSpec("gpt3-175b", 96, 12288, 96, 2048, 51200,
              source="Brown et al. 2020, Table 2.1 (GPT-3 175B); vocabulary padded to 51,200 "
                     "as in Megatron-LM (Narayanan et al. SC'21, sec. 5.1)"),
    ModelSpec("gpt3-2.7b", 32, 2560, 32, 2048, 51200,
              source="Brown et al. 2020, Table 2.1 (GPT-3 2.7B: 32 layers, d_model 2560, 32 heads); "
                     "vocabulary padded to 51,200 as for gpt3-175b"),
    ModelSpec("megatron-39b", 48, 8192, 64, 2048, 51200,
              source="Narayanan et al. SC'21 (Megatron-LM), Table 1: the 39.1B, 48-layer GPT. "
                     "Source document 002 gives only '48 layers'; this is the published model of "
                     "that depth"),
    _llama("llama-65b", 80, 8192, 64, 64, 22016, 2048, 32000,
           "Touvron et al. 2023 (LLaMA), Table 2: 65.2B, 80 layers, h=8192, 64 heads"),
    _llama("llama2-7b", 32, 4096, 32, 32, 11008, 4096, 32000,
           "Touvron et al. 2023 (Llama 2), Table 1 and the released config: 32 layers, h=4096"),
    _llama("llama2-70b", 80, 8192, 64, 8, 28672, 4096, 32000,
           "Touvron et al. 2023 (Llama 2), Table 1 (GQA) and the released config: 80 layers, 8 KV heads"),
    _llama("llama3-405b", 126, 16384, 128, 8, 53248, 8192, 128256,
           "Llama 3 Herd of Models (Dubey et al. 2024), Table 3: 126 layers, h=16384, 128 heads, "
           "8 KV heads, FFN 53,248, vocabulary 128K; pre-training sequence 8,192"),
)}
ALIASES = {"seed002-48l": "megatron-39b"}


def get_model(name: str) -> ModelSpec:
    """A named model (``ppedu plan --model``); UsageError listing the names otherwise."""
    key = ALIASES.get(name, name)
    if key not in MODELS:
        raise UsageError(_("model must be one of {models} (got {name!r})").format(models=', '.join([*MODELS, *ALIASES]), name=name))
    return MODELS[key]
