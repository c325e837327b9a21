"""A tiny GPT (nanoGPT-style) that splits into pipeline stages and decodes with a KV cache.

Read top-down:
  GPTConfig            the shape of the model; the weights are a pure function of ``seed``
  GPT                  token+position embedding -> n_layer Blocks -> LayerNorm -> head (+ loss)
  split_into_stages    cut a GPT into contiguous StageModules, one per (virtual) pipeline stage
  StageModule          forward() for training, forward_infer() for serving many requests at once
  Block, CausalSelfAttention, MLP   the transformer block; one attention code path for both uses
  causal_attention     softmax(q k^T / sqrt(hd)) v with a causal mask that knows the cache offset
  set_recompute        activation recomputation: none, selective (attention core) or full (block)
KV cache and decoding (LayerKV, KVCache, greedy_generate, cached_generate) live in
ppedu.model.kvcache; this module only uses the cache types.

Shapes: B batch, T sequence, C n_embd, nh n_head, hd = C // nh, V vocab, N flat tokens.
Stage parameters keep the full model's names (``blocks.2.attn.c_attn.weight``), so a pipeline's
gradients compare to the single-process model's parameter by parameter.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ppedu.model.corpus import corpus_vocab_size
from ppedu.errors import UsageError, check_choice, check_float, check_int
from ppedu.i18n.messages import _
from ppedu.model.kvcache import KVCache, LayerKV
from ppedu.planner.formulas import RECOMPUTE


@dataclass
class GPTConfig:
    """Model shape. Defaults train a step on CPU in milliseconds; vocab matches the shipped corpus."""
    vocab_size: int = field(default_factory=corpus_vocab_size)
    block_size: int = 64    # longest sequence: positions 0 .. block_size-1
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0    # 0: every run and every pipeline split computes the same numbers
    seed: int = 0           # weights are a pure function of the seed

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        check_float("dropout", self.dropout, 0.0, 0.9)
        if self.n_embd % self.n_head:
            raise UsageError(_("n_embd must be a multiple of n_head={n_head} (got {n_embd})").format(
                n_head=self.n_head, n_embd=self.n_embd))


class GPT(nn.Module):
    """The whole model on one device: the reference every pipeline is checked against."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        # Build under a forked RNG: the weights depend on config.seed only, and the caller's
        # global RNG stream is left exactly as it was (rank 0 and rank 3 build the same model).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.wte = nn.Embedding(config.vocab_size, config.n_embd)   # token -> vector
            self.wpe = nn.Embedding(config.block_size, config.n_embd)   # position -> vector
            self.drop = nn.Dropout(config.dropout)
            self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
            self.ln_f = nn.LayerNorm(config.n_embd)
            # No weight tying with wte: tied weights would live on the first AND last stage and
            # need an extra all-reduce per step; the course keeps stages independent.
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
            for name, p in self.named_parameters():
                if name.endswith(".bias"):
                    nn.init.zeros_(p)
                elif "ln" not in name:  # GPT-2 init; residual projections scaled down by depth
                    std = 0.02 / math.sqrt(2 * config.n_layer) if name.endswith("c_proj.weight") else 0.02
                    nn.init.normal_(p, 0.0, std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """idx (B, T) int64 -> (logits (B, T, V), loss: mean cross-entropy over B*T, or None)."""
        B, T = idx.shape
        check_int("sequence length", T, 1, self.config.block_size)
        pos = torch.arange(T, device=idx.device)                       # (T,)
        x = self.drop(self.wte(idx) + self.wpe(pos))                    # (B, T, C)
        for block in self.blocks:
            x = block(x)                                                # (B, T, C)
        logits = self.lm_head(self.ln_f(x))                             # (B, T, V)
        loss = None if targets is None else F.cross_entropy(logits.view(B * T, -1), targets.view(-1))
        return logits, loss


def split_into_stages(model_or_config: GPT | GPTConfig, boundaries) -> list[StageModule]:
    """Cut a GPT into pipeline stages; ``boundaries[s] = (start_layer, end_layer)`` for stage s.

    Stages must be contiguous and cover layers 0..n_layer. Stage 0 owns the embeddings, the last
    stage owns ln_f + head + loss. A stage may be empty (start == end) so an interleaved schedule
    can ask for more virtual stages than layers. Weights are deep copies of the model's, so stages
    train independently of the reference. ``boundaries`` may also be a ``Partition``.
    """
    model = model_or_config if isinstance(model_or_config, GPT) else GPT(model_or_config)
    n = model.config.n_layer
    bounds = [tuple(b) for b in getattr(boundaries, "boundaries", boundaries)]
    ends = [0] + [e for _, e in bounds]
    ok = bool(bounds) and all(len(b) == 2 and b[0] == ends[i] and b[0] <= b[1] for i, b in enumerate(bounds))
    if not ok or ends[-1] != n:
        raise UsageError(_("boundaries must be contiguous (start, end) layer ranges covering 0..{n} (got {got})").format(
            n=n, got=list(getattr(boundaries, "boundaries", boundaries))))
    return [StageModule(model, s, e, i, len(bounds)) for i, (s, e) in enumerate(bounds)]


class StageModule(nn.Module):
    """Layers [start, end) of a GPT, plus the embeddings (first stage) or ln_f + head (last stage)."""

    def __init__(self, model: GPT, start: int, end: int, stage_id: int, n_stages: int,
                 copy_weights: bool = True):
        super().__init__()
        take = copy.deepcopy if copy_weights else (lambda m: m)
        self.config, self.start, self.end = model.config, start, end
        self.stage_id, self.n_stages = stage_id, n_stages
        self.is_first, self.is_last = stage_id == 0, stage_id == n_stages - 1
        if self.is_first:
            self.wte, self.wpe, self.drop = take(model.wte), take(model.wpe), take(model.drop)
        # ModuleDict keyed by the global layer index keeps the full model's parameter names.
        self.blocks = nn.ModuleDict({str(i): take(model.blocks[i]) for i in range(start, end)})
        if self.is_last:
            self.ln_f, self.lm_head = take(model.ln_f), take(model.lm_head)

    def full_names(self) -> dict[str, str]:
        """Stage parameter name -> full-model parameter name (identical by construction)."""
        return {name: name for name, _ in self.named_parameters()}

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Training step of one micro-batch through this stage.

        x: idx (B, T) int64 on the first stage, activations (B, T, C) float elsewhere.
        Returns activations (B, T, C); the last stage returns the scalar loss (mean cross-entropy
        over the whole micro-batch), or logits (B, T, V) when ``targets`` is None.
        """
        if self.is_first:
            T = x.size(1)
            check_int("sequence length", T, 1, self.config.block_size)
            x = self.drop(self.wte(x) + self.wpe(torch.arange(T, device=x.device)))   # (B, T, C)
        for block in self.blocks.values():
            x = block(x)                                                              # (B, T, C)
        if not self.is_last:
            return x
        logits = self.lm_head(self.ln_f(x))                                           # (B, T, V)
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))

    @torch.no_grad()
    def forward_infer(self, x: torch.Tensor, caches: list[KVCache], positions: list[int],
                      lengths: list[int]) -> torch.Tensor:
        """One serving iteration for R requests at once (selective batching, as in Orca).

        x holds the new tokens of all requests back to back: (N,) int64 ids on the first stage,
        (N, C) activations elsewhere, N = sum(lengths). Request r owns the next ``lengths[r]`` rows;
        its new tokens sit at positions ``positions[r] ..`` (a prefill has length > 1, a decode step
        length 1, and both may share one call). ``caches[r]`` is request r's KVCache on this stage.
        Returns (N, C) activations, or on the last stage (R, V) logits of each request's last token.
        """
        if not (len(caches) == len(positions) == len(lengths)) or sum(lengths) != x.size(0):
            raise UsageError(_("caches, positions, lengths must have one entry per request and sum(lengths) must equal "
                               "x.size(0)={size} (got lengths={lengths})").format(size=x.size(0), lengths=list(lengths)))
        for r, (cache, pos, n) in enumerate(zip(caches, positions, lengths)):
            check_int(f"positions[{r}] + lengths[{r}]", pos + n, pos + 1, self.config.block_size)
            for i in range(self.start, self.end):  # catches a server that lost or repeated a step
                if cache.layer(i).length != pos:
                    raise UsageError(_("positions[{r}] must equal the cached length {length} of layer {i} (got {pos})").format(
                        r=r, length=cache.layer(i).length, i=i, pos=pos))
        if self.is_first:
            pos_ids = torch.cat([torch.arange(p, p + n) for p, n in zip(positions, lengths)]).to(x.device)
            x = self.wte(x) + self.wpe(pos_ids)                              # (N, C)
        for i, block in self.blocks.items():
            x = block(x, [cache.layer(int(i)) for cache in caches], lengths)  # (N, C)
        if not self.is_last:
            return x
        last = (torch.tensor(lengths).cumsum(0) - 1).to(x.device)           # each request's last row
        return self.lm_head(self.ln_f(x[last]))                              # (R, V)


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)
        self.drop = nn.Dropout(config.dropout)
        self.recompute_block = False    # full recomputation: keep only x, re-run the block in backward

    def forward(self, x: torch.Tensor, kv_caches: list[LayerKV] | None = None,
                lengths: list[int] | None = None) -> torch.Tensor:
        """Training: x (B, T, C). Decoding: x (N, C) new tokens of len(kv_caches) requests."""
        if kv_caches is not None:
            x = x + self.attn.forward_cached(self.ln_1(x), kv_caches, lengths)
            return x + self.drop(self.mlp(self.ln_2(x)))
        if self.recompute_block and torch.is_grad_enabled():
            # Megatron's full recomputation (GPipe's re-materialization): autograd saves only the
            # block's input; backward runs the forward again (~1/3 more compute) to rebuild the rest.
            return checkpoint(self._train_forward, x, use_reentrant=False)
        return self._train_forward(x)

    def _train_forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln_1(x)))
        return x + self.drop(self.mlp(self.ln_2(x)))     # the MLP never mixes tokens: batch freely


class MLP(nn.Module):
    """Position-wise feed-forward: C -> 4C -> GELU -> C."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention. Training and cached decoding share ``causal_attention``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)   # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.recompute_core = False     # selective recomputation: drop the (B, nh, T, T) softmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)                                      # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if self.recompute_core and torch.is_grad_enabled():
            # Korthikanti et al. 2022, eq. 1 (sec. 4.1) and sec. 5: the attention core stores the 5as/h
            # term (quadratic in T) but is cheap to redo: keep q, k, v and recompute softmax(q k^T) v
            # in backward.
            y = checkpoint(causal_attention, q, k, v, 0, use_reentrant=False)        # (B, nh, T, hd)
        else:
            y = causal_attention(q, k, v, start=0)                                    # (B, nh, T, hd)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))                        # (B, T, C)

    def forward_cached(self, x: torch.Tensor, caches: list[LayerKV], lengths: list[int]) -> torch.Tensor:
        """x (N, C): projections run once over all N tokens; attention runs per request, because
        each request attends only to its own history (its cache plus its new tokens)."""
        N, C = x.shape
        hd = C // self.n_head
        outs = []
        for cache, qkv in zip(caches, self.c_attn(x).split(list(lengths))):          # (L, 3C) each
            L = qkv.size(0)
            q, k, v = (t.view(L, self.n_head, hd).transpose(0, 1) for t in qkv.split(C, dim=1))  # (nh, L, hd)
            start = cache.length
            k, v = cache.append(k, v)                                                 # (nh, start+L, hd)
            outs.append(causal_attention(q, k, v, start).transpose(0, 1).reshape(L, C))
        return self.c_proj(torch.cat(outs))                                           # (N, C)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int) -> torch.Tensor:
    """softmax(q k^T / sqrt(hd)) v where the query at absolute position start+i sees keys 0..start+i.

    q (..., L, hd) are the new tokens; k, v (..., S, hd) all tokens so far (S = start + L).
    Training passes start=0 and S=L; decoding puts the cached keys in front.
    """
    L, S = q.size(-2), k.size(-2)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(-1)))      # (..., L, S)
    q_pos = torch.arange(start, start + L, device=q.device)[:, None]
    k_pos = torch.arange(S, device=q.device)[None, :]
    att = att.masked_fill(k_pos > q_pos, float("-inf"))                  # no peeking at the future
    return F.softmax(att, dim=-1) @ v                                    # (..., L, hd)


def set_recompute(module: nn.Module, mode: str) -> nn.Module:
    """Switch activation recomputation for every Block in ``module`` (a GPT or a StageModule).

    none: autograd keeps everything. selective: recompute the attention core (Korthikanti et al.
    2022, sec. 5). full: keep each block's input only (sec. 5, Table 2; GPipe's re-materialization).
    Numbers are unchanged: the forward is re-run with the same weights (and dropout RNG state).
    """
    check_choice("recompute", mode, RECOMPUTE)
    for block in module.modules():
        if isinstance(block, Block):
            block.recompute_block = mode == "full"
            block.attn.recompute_core = mode == "selective"
    return module
