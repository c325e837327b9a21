"""Megatron-style tensor parallelism (Shoeybi et al. 2019, arXiv 1909.08053), read beside chapter 1.

Read top-down:
  f, g                   the conjugate operators: f = identity forward, all-reduce backward;
                         g = all-reduce forward, identity backward
  ColumnParallelLinear   Y_i = f(X) A_i: each rank keeps a slice of the *output* features
  RowParallelLinear      Y = g(sum_i X_i B_i) + b: each rank keeps a slice of the *input* features
  TPMLP, TPAttention     column then row: c_fc | c_proj, and heads split across ranks c_attn | c_proj
  TPBlock, TPGPT         a GPT (or a pipeline stage of it) whose blocks are tensor parallel
  init_parallel_groups   the TP x PP mesh of process groups (rank = pp_rank * tp + tp_rank)
  shard                  the slice of a full tensor a rank owns (gradients compare name by name)

Every TP layer is built by *slicing the weights of the single-process model* (``ppedu.model.gpt.GPT``),
so with the same seed its outputs and gradients equal the reference's (allclose, float32).
Per block a step makes 4 all-reduces of a (B, T, C) tensor: g after attention and after the MLP
(forward), f before each of them (backward). Embeddings, LayerNorms and the head are replicated:
the residual stream is identical on every TP rank, so their gradients are too, with no extra
communication (as in Megatron without sequence parallelism). Parameter names equal the full
model's (``blocks.2.attn.c_attn.weight``), so gradients compare name by name via ``shard``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from ppedu.runtime import comm, worker
from ppedu.errors import UsageError
from ppedu.i18n.messages import _
from ppedu.model.gpt import GPT, causal_attention


# --------------------------------------------------------------------------------------------------
# The conjugate operators f and g
# --------------------------------------------------------------------------------------------------
def group_rank_size(group) -> tuple[int, int]:
    """(rank in ``group``, size of ``group``); (0, 1) outside torch.distributed (a notebook kernel)."""
    if group is None and not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)


def _all_reduce(t: torch.Tensor, group) -> torch.Tensor:
    """Sum over the TP group into a fresh tensor (autograd may share ``t`` with another branch)."""
    if group_rank_size(group)[1] == 1:
        return t  # nothing to talk about: tp=1 sends no message at all
    return comm.all_reduce(t.clone(memory_format=torch.contiguous_format), group)


class _CopyToTP(torch.autograd.Function):
    """f: every rank needs the whole input X (identity); dL/dX is the sum of the ranks' parts."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return _all_reduce(grad, ctx.group), None


class _ReduceFromTP(torch.autograd.Function):
    """g: the output is the sum of the ranks' partial outputs; each part's gradient is dL/dY."""

    @staticmethod
    def forward(ctx, x, group):
        return _all_reduce(x, group)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def f(x: torch.Tensor, group=None) -> torch.Tensor:
    """Identity forward, all-reduce backward (enters a tensor-parallel region)."""
    return _CopyToTP.apply(x, group)


def g(x: torch.Tensor, group=None) -> torch.Tensor:
    """All-reduce forward, identity backward (leaves a tensor-parallel region)."""
    return _ReduceFromTP.apply(x, group)


# --------------------------------------------------------------------------------------------------
# Slicing: which part of a full tensor a rank owns
# --------------------------------------------------------------------------------------------------
def split(t: torch.Tensor, dim: int, rank: int, size: int, fused: int = 1) -> torch.Tensor:
    """Rank ``rank``'s 1/size slice of each of ``fused`` equal blocks of ``t`` along ``dim``.

    ``fused=3`` serves c_attn, whose output is [q | k | v]: a rank owns the same heads of all three.
    """
    if t.size(dim) % (fused * size):
        raise UsageError(_("dimension {n} must be divisible by {fused} x tp={tp}").format(n=t.size(dim), fused=fused, tp=size))
    return torch.cat([b.chunk(size, dim)[rank] for b in t.chunk(fused, dim)], dim).clone()


def shard(name: str, full: torch.Tensor, rank: int, size: int) -> torch.Tensor:
    """The part of the full-model tensor ``name`` (a parameter or its gradient) that TP rank owns."""
    if ".attn.c_attn." in name:
        return split(full, 0, rank, size, fused=3)       # column parallel, q/k/v heads
    if ".mlp.c_fc." in name:
        return split(full, 0, rank, size)                # column parallel
    if name.endswith(".c_proj.weight"):
        return split(full, 1, rank, size)                # row parallel (its bias is replicated)
    return full.clone()                                  # embeddings, LayerNorms, head: replicated


# --------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------
class ColumnParallelLinear(nn.Module):
    """Y_i = f(X) A_i^T + b_i: the rank's slice of the output features (no communication forward)."""

    def __init__(self, full: nn.Linear, group=None, fused: int = 1):
        super().__init__()
        self.group = group
        rank, size = group_rank_size(group)
        self.weight = nn.Parameter(split(full.weight.detach(), 0, rank, size, fused))   # (out/tp, in)
        bias = None if full.bias is None else split(full.bias.detach(), 0, rank, size, fused)
        self.bias = None if bias is None else nn.Parameter(bias)                        # (out/tp,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(f(x, self.group), self.weight, self.bias)       # (..., out/tp)


class RowParallelLinear(nn.Module):
    """Y = g(X_i B_i^T) + b: each rank holds a slice of the input features; the sum is one all-reduce."""

    def __init__(self, full: nn.Linear, group=None):
        super().__init__()
        self.group = group
        rank, size = group_rank_size(group)
        self.weight = nn.Parameter(split(full.weight.detach(), 1, rank, size))          # (out, in/tp)
        # The bias is added once, after the sum (adding it on every rank would count it tp times).
        self.bias = None if full.bias is None else nn.Parameter(full.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = g(F.linear(x, self.weight), self.group)                    # (..., out), summed over ranks
        return y if self.bias is None else y + self.bias


class TPMLP(nn.Module):
    """GeLU(X A) B with A split by columns and B by rows: GeLU is applied locally, no sync between."""

    def __init__(self, mlp: nn.Module, group=None):
        super().__init__()
        self.c_fc = ColumnParallelLinear(mlp.c_fc, group)
        self.gelu = nn.GELU()
        self.c_proj = RowParallelLinear(mlp.c_proj, group)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))      # (B, T, 4C/tp) inside, (B, T, C) out


class TPAttention(nn.Module):
    """Causal self-attention with n_head / tp heads per rank: heads never talk to each other."""

    def __init__(self, attn: nn.Module, group=None):
        super().__init__()
        _, size = group_rank_size(group)
        self.n_head = attn.n_head // size         # local heads (tp divides n_head: jobs.check_setup)
        self.c_attn = ColumnParallelLinear(attn.c_attn, group, fused=3)    # (3C/tp, C)
        self.c_proj = RowParallelLinear(attn.c_proj, group)                # (C, C/tp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        q, k, v = self.c_attn(x).chunk(3, dim=2)                          # 3 x (B, T, C/tp)
        q, k, v = (t.view(B, T, self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        y = causal_attention(q, k, v, start=0)                            # (B, nh/tp, T, hd)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, -1))           # (B, T, C)


class TPBlock(nn.Module):
    """A pre-LayerNorm block: LayerNorms replicated, attention and MLP tensor parallel."""

    def __init__(self, block: nn.Module, group=None):
        super().__init__()
        self.ln_1, self.ln_2 = copy.deepcopy(block.ln_1), copy.deepcopy(block.ln_2)
        self.attn = TPAttention(block.attn, group)
        self.mlp = TPMLP(block.mlp, group)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TPGPT(nn.Module):
    """Layers [start, end) of a GPT with tensor-parallel blocks; embeddings if ``first``, head if ``last``.

    The defaults give the whole model (TP only); a TP x PP stage passes its layer range.
    """

    def __init__(self, model: GPT, group=None, start: int = 0, end: int | None = None,
                 first: bool = True, last: bool = True):
        super().__init__()
        if model.config.dropout:
            raise UsageError(_("dropout must be 0 for tensor parallelism here (got {dropout})").format(
                dropout=model.config.dropout))
        self.config, self.first, self.last = model.config, first, last
        end = model.config.n_layer if end is None else end
        if first:
            self.wte, self.wpe = copy.deepcopy(model.wte), copy.deepcopy(model.wpe)
        # ModuleDict keyed by the global layer index keeps the full model's parameter names.
        self.blocks = nn.ModuleDict({str(i): TPBlock(model.blocks[i], group) for i in range(start, end)})
        if last:
            self.ln_f, self.lm_head = copy.deepcopy(model.ln_f), copy.deepcopy(model.lm_head)

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """idx (B, T) on the first stage, else activations (B, T, C) -> activations, logits or loss."""
        if self.first:
            x = self.wte(x) + self.wpe(torch.arange(x.size(1), device=x.device))   # (B, T, C)
        for block in self.blocks.values():
            x = block(x)
        if not self.last:
            return x                                                               # (B, T, C)
        logits = self.lm_head(self.ln_f(x))                                        # (B, T, V)
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


# --------------------------------------------------------------------------------------------------
# Process groups: the TP x PP mesh
# --------------------------------------------------------------------------------------------------
@dataclass
class ParallelGroups:
    """This rank's place in a tp x pp mesh, with rank = pp_rank * tp + tp_rank.

    TP=2, PP=2 puts GPUs 0,1 on stage 0 and GPUs 2,3 on stage 1: Megatron-LM's rank order
    (``megatron/core/parallel_state.py``) with the data-parallel axis left out. TP ranks are
    neighbours (the same server, NVLink), so the per-layer all-reduces stay on the fast links and only PP messages cross servers.
    """
    tp: int
    pp: int
    tp_rank: int
    pp_rank: int
    tp_group: object      # torch.distributed group of the tp ranks of this stage
    pp_group: object      # group of the pp ranks holding the same TP slice
    tp_ranks: list[int]
    pp_ranks: list[int]

    def global_rank(self, pp_rank: int, tp_rank: int | None = None) -> int:
        """Global rank of mesh position (pp_rank, tp_rank); tp_rank defaults to this rank's."""
        return pp_rank * self.tp + (self.tp_rank if tp_rank is None else tp_rank)


_GROUPS: dict[tuple[int, int, int], ParallelGroups] = {}


def init_parallel_groups(tp: int, pp: int) -> ParallelGroups:
    """Build (once per warm worker) the TP and PP groups of a tp x pp mesh; call on every rank.
    tp x pp = the world size was checked before the ranks started (``jobs.check_setup``)."""
    n, rank = worker.world_size(), worker.rank()
    key = (n, tp, pp)
    if key not in _GROUPS:
        # new_group is collective: every rank creates every group, in the same order.
        tp_lists = [[s * tp + t for t in range(tp)] for s in range(pp)]
        pp_lists = [[s * tp + t for s in range(pp)] for t in range(tp)]
        tp_groups = [dist.new_group(r) for r in tp_lists]
        pp_groups = [dist.new_group(r) for r in pp_lists]
        pp_rank, tp_rank = divmod(rank, tp)
        _GROUPS[key] = ParallelGroups(tp, pp, tp_rank, pp_rank, tp_groups[pp_rank], pp_groups[tp_rank],
                                      tp_lists[pp_rank], pp_lists[tp_rank])
    return _GROUPS[key]
