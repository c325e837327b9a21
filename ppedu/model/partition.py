"""Which layers go on which pipeline stage: uniform, balanced (by measured time), memory.

Read top-down:
  partition            split n_layer blocks into p contiguous stages, report each stage's cost
  Partition            boundaries + per-stage costs; imbalance() = max / mean stage cost
  stage_costs          cost of each stage for any boundaries (embedding on the first, head on the last)
  flop_costs           analytic forward+backward FLOPs per item (uniform's yardstick)
  measure_layer_times  forward+backward seconds per item, measured on this machine
  memory_costs         parameter-state + activation bytes per item, counted from the config

An "item" list always reads [embedding, block 0, ..., block n_layer-1, head]. The embedding rides
on stage 0 and the head (ln_f + lm_head + loss) on the last stage, so those two stages carry extra
cost; a pipeline moves at the pace of its slowest stage, so every other stage idles for the
difference each step (the imbalance bubble). ``balanced`` and ``memory`` give such stages fewer blocks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ppedu.errors import UsageError, check_choice, check_int
from ppedu.i18n.messages import _
from ppedu.model.gpt import GPT, GPTConfig
from ppedu.planner.formulas import layer_activation_bytes

METHODS = ("uniform", "balanced", "memory")
UNITS = {"uniform": "flops", "balanced": "s", "memory": "bytes"}


@dataclass
class Partition:
    """Layer ranges per stage: ``boundaries[s] = (start_layer, end_layer)``, and what each costs."""
    boundaries: list[tuple[int, int]]
    stage_costs: list[float]
    method: str
    unit: str = ""

    def imbalance(self) -> float:
        """max / mean stage cost: 1.0 is perfect; 1.5 means the slowest stage does 50% more than average."""
        mean = sum(self.stage_costs) / len(self.stage_costs)
        return max(self.stage_costs) / mean if mean > 0 else 1.0

    def table(self) -> str:
        """A small text table, one row per stage, for notebooks and the CLI."""
        total = sum(self.stage_costs) or 1.0
        rows = [f"{_('stage'):>5}  {_('layers'):<22}{_('cost ({unit})').format(unit=self.unit):>16}  {_('share')}"]
        for s, ((a, b), c) in enumerate(zip(self.boundaries, self.stage_costs)):
            blocks = _("blocks {a}..{b}").format(a=a, b=b - 1) if b > a else _("no blocks")
            what = ("emb + " if s == 0 else "") + blocks + (" + head" if s == len(self.boundaries) - 1 else "")
            rows.append(f"{s:>5}  {what:<22}{c:>16.4g}  {c / total:5.1%}")
        rows.append(_("{method}: imbalance (max/mean) = {imbalance:.3f}").format(method=self.method, imbalance=self.imbalance()))
        return "\n".join(rows)


def partition(config: GPTConfig, p: int, method: str = "uniform", layer_costs: list[float] | None = None,
              batch_size: int = 8, seq_len: int | None = None) -> Partition:
    """Split ``config.n_layer`` blocks into ``p`` contiguous stages of at least one block each.

    uniform:  equal block counts (the first ``n_layer % p`` stages get one extra block).
    balanced: minimise the slowest stage's measured time (``measure_layer_times``).
    memory:   minimise the largest stage's bytes (``memory_costs``).
    ``layer_costs`` ([embedding, blocks..., head]) replaces the default costs of the method, e.g.
    times measured elsewhere. ``batch_size``/``seq_len`` size one micro-batch for the defaults.
    """
    check_choice("method", method, METHODS)
    p = check_int("p", p, 1)
    n = config.n_layer
    if p > n:
        raise UsageError(_("p must be at most n_layer={n} (got {p})").format(n=n, p=p))
    seq_len = config.block_size if seq_len is None else seq_len
    if layer_costs is not None:
        costs = _check_costs(layer_costs, n)
    elif method == "uniform":
        costs = flop_costs(config, batch_size, seq_len)
    elif method == "balanced":
        costs = measure_layer_times(config, batch_size, seq_len)
    else:
        costs = memory_costs(config, batch_size, seq_len)
    bounds = uniform_bounds(n, p) if method == "uniform" else _min_max_split(costs, p)
    return Partition(bounds, stage_costs(bounds, costs), method, UNITS[method])


def stage_costs(boundaries, layer_costs: list[float]) -> list[float]:
    """Cost of each stage: its blocks, plus the embedding on stage 0 and the head on the last."""
    emb, blocks, head = layer_costs[0], layer_costs[1:-1], layer_costs[-1]
    out = [float(sum(blocks[a:b])) for a, b in boundaries]
    out[0] += emb
    out[-1] += head
    return out


def uniform_bounds(n: int, p: int) -> list[tuple[int, int]]:
    """Equal block counts; the remainder goes one block each to the first stages (n=5, p=2:
    [(0, 3), (3, 5)]). Unlike ``n // p`` layers per stage, no layer is dropped."""
    q, r = divmod(n, p)
    sizes = [q + (s < r) for s in range(p)]
    starts = [sum(sizes[:s]) for s in range(p)]
    return [(a, a + k) for a, k in zip(starts, sizes)]


def _min_max_split(costs: list[float], p: int) -> list[tuple[int, int]]:
    """Contiguous split of the blocks into p non-empty stages minimising the largest stage cost.

    Dynamic programming: best[s][b] = smallest possible max cost when stages 0..s-1 hold blocks
    0..b-1. O(p * n^2), nothing for 4 layers and still instant for 100.
    """
    n = len(costs) - 2
    prefix = [0.0]
    for c in costs[1:-1]:
        prefix.append(prefix[-1] + c)

    def cost(s: int, a: int, b: int) -> float:
        return prefix[b] - prefix[a] + (costs[0] if s == 0 else 0.0) + (costs[-1] if s == p - 1 else 0.0)

    best = [[math.inf] * (n + 1) for _ in range(p + 1)]
    cut = [[0] * (n + 1) for _ in range(p + 1)]
    best[0][0] = 0.0
    for s in range(1, p + 1):
        for b in range(s, n - (p - s) + 1):          # leave at least one block per later stage
            for a in range(s - 1, b):
                m = max(best[s - 1][a], cost(s - 1, a, b))
                if m < best[s][b]:
                    best[s][b], cut[s][b] = m, a
    bounds, b = [], n
    for s in range(p, 0, -1):                        # walk the cuts back from the last stage
        bounds.append((cut[s][b], b))
        b = cut[s][b]
    return bounds[::-1]


def _check_costs(layer_costs, n: int) -> list[float]:
    costs = [float(c) for c in layer_costs]
    if len(costs) != n + 2:
        raise UsageError(_("layer_costs must have n_layer + 2 = {want} entries [embedding, block 0..{last}, head] "
                           "(got {n})").format(want=n + 2, last=n - 1, n=len(costs)))
    bad = [c for c in costs if not (c >= 0 and math.isfinite(c))]
    if bad:
        raise UsageError(_("layer_costs must be finite numbers >= 0 (got {value})").format(value=bad[0]))
    return costs


def flop_costs(config: GPTConfig, batch_size: int = 8, seq_len: int | None = None) -> list[float]:
    """Matmul FLOPs of forward + backward (backward ~ 2x forward) per item, from the config alone."""
    B, T, C, V = batch_size, seq_len or config.block_size, config.n_embd, config.vocab_size
    block = 2 * B * T * 12 * C * C + 2 * 2 * B * T * T * C   # qkv, proj, mlp matmuls + q k^T and att v
    items = [2 * B * T * C] + [block] * config.n_layer + [2 * B * T * C * V]   # embedding: the add only
    return [3.0 * f for f in items]


def memory_costs(config: GPTConfig, batch_size: int = 8, seq_len: int | None = None) -> list[float]:
    """Bytes per item: 16 per parameter (fp32 weight, grad, Adam m and v) + one micro-batch's
    saved activations (what autograd keeps for backward; multiply by micro-batches in flight)."""
    params, acts = param_counts(config), activation_bytes(config, batch_size, seq_len)
    return [16.0 * n + a for n, a in zip(params, acts)]


def param_counts(config: GPTConfig) -> list[int]:
    """Parameters per item, counted from the config (equals the real GPT's numel per item)."""
    C, V = config.n_embd, config.vocab_size
    block = 2 * C + (3 * C * C + 3 * C) + (C * C + C) + 2 * C + (4 * C * C + 4 * C) + (4 * C * C + C)
    return [V * C + config.block_size * C] + [block] * config.n_layer + [2 * C + C * V]


def activation_bytes(config: GPTConfig, batch_size: int = 8, seq_len: int | None = None) -> list[float]:
    """fp32 bytes autograd saves for backward per item, for one (batch_size, seq_len) micro-batch.

    Per block: inputs of ln_1, c_attn, c_proj, ln_2, c_fc (5 x BTC), q/k/v (3 x BTC), GELU input
    and output (2 x 4BTC): 16 BTC, plus the softmax output (B nh T T), the quadratic term: the
    Korthikanti et al. 2022 formula at fp32 without dropout (``ppedu.planner.formulas``).
    Head: ln_f and lm_head inputs (2 BTC) and the log-softmax output (BTV). Embedding: the int64 ids.
    """
    B, T, C, V = batch_size, seq_len or config.block_size, config.n_embd, config.vocab_size
    block = layer_activation_bytes(T, B, C, config.n_head, dropout=False, value_bytes=4)
    return [8.0 * B * T] + [float(block)] * config.n_layer + [4.0 * (2 * B * T * C + B * T * V)]


def measure_layer_times(config: GPTConfig, batch_size: int = 8, seq_len: int | None = None,
                        repeats: int = 5) -> list[float]:
    """Seconds of forward + backward per item on this machine (min over ``repeats`` after a warm-up).

    The minimum, not the mean: on a shared machine the noise only ever adds time. Runs with the
    calling process's torch thread count (inside a cluster job: the worker's).
    """
    check_int("batch_size", batch_size, 1)
    T = check_int("seq_len", seq_len or config.block_size, 1, config.block_size)
    check_int("repeats", repeats, 1)
    model = GPT(config)
    gen = torch.Generator().manual_seed(config.seed)
    idx = torch.randint(config.vocab_size, (batch_size, T), generator=gen)        # (B, T)
    targets = torch.randint(config.vocab_size, (batch_size, T), generator=gen)    # (B, T)
    pos = torch.arange(T)
    with torch.no_grad():
        x = model.wte(idx) + model.wpe(pos)                                        # (B, T, C)
    grad = torch.ones_like(x) / x.numel()

    def embedding() -> None:
        (model.wte(idx) + model.wpe(pos)).backward(grad)

    def block(i: int):
        def run() -> None:
            model.blocks[i](x.detach().requires_grad_()).backward(grad)
        return run

    def head() -> None:
        logits = model.lm_head(model.ln_f(x.detach().requires_grad_()))           # (B, T, V)
        F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1)).backward()

    fns = [embedding] + [block(i) for i in range(config.n_layer)] + [head]
    for fn in fns:
        fn()                                         # warm-up: allocator, first-call overheads
    times = [math.inf] * len(fns)
    for _ in range(repeats):                         # round-robin, so a burst of load from another
        for k, fn in enumerate(fns):                 # process hits one sample of every item, not
            t0 = time.perf_counter()                 # every sample of one item
            fn()
            times[k] = min(times[k], time.perf_counter() - t0)
    return times
