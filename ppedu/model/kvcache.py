"""KV cache and greedy decoding for the tiny GPT (chapter 5: serving).

Read top-down:
  LayerKV          keys/values of one request in one layer, (nh, t, hd), growing by new tokens
  KVCache          one request's cache on one stage: a LayerKV per layer the stage owns
  greedy_generate  the single-process reference (no cache) a pipeline server must reproduce
  cached_generate  a one-process server in miniature: KV cache + selective batching (Orca)

Why a cache: without one, writing token t re-reads all t previous tokens in every layer
(quadratic work); with one, each layer computes k, v for the new token only and appends them.
The model side (``StageModule.forward_infer``, ``CausalSelfAttention.forward_cached``) lives in
``ppedu.model.gpt``; this module never imports it, so both can be read on their own.
"""

from __future__ import annotations

import torch

from ppedu.errors import check_int


class LayerKV:
    """Keys and values of one request in one layer: ``k``, ``v`` of shape (nh, t, hd), growing."""

    def __init__(self):
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.k is None else self.k.size(1)

    @property
    def nbytes(self) -> int:
        return 0 if self.k is None else 2 * self.k.numel() * self.k.element_size()

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the new tokens' (nh, L, hd) keys/values; return everything cached, (nh, t+L, hd)."""
        self.k = k if self.k is None else torch.cat([self.k, k], dim=1)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=1)
        return self.k, self.v


class KVCache:
    """One request's cache on one stage: a LayerKV per layer index, created on first use."""

    def __init__(self):
        self.layers: dict[int, LayerKV] = {}

    def layer(self, i: int) -> LayerKV:
        return self.layers.setdefault(i, LayerKV())

    @property
    def nbytes(self) -> int:
        return sum(kv.nbytes for kv in self.layers.values())


@torch.no_grad()
def greedy_generate(model: torch.nn.Module, prompt_ids: list[int], max_new_tokens: int) -> list[int]:
    """Reference decoder: rerun the whole sequence every step (no cache), append the argmax.

    Returns the ``max_new_tokens`` new token ids (not the prompt). prompt + new must fit block_size.
    """
    check_int("len(prompt_ids)", len(prompt_ids), 1)
    check_int("max_new_tokens", max_new_tokens, 0, model.config.block_size - len(prompt_ids))
    ids, device = list(prompt_ids), next(model.parameters()).device
    for _ in range(max_new_tokens):
        logits, _ = model(torch.tensor([ids], device=device))           # (1, t, V)
        ids.append(int(logits[0, -1].argmax()))
    return ids[len(prompt_ids):]


@torch.no_grad()
def cached_generate(stages: list, prompts: list[list[int]], max_new_tokens) -> list[list[int]]:
    """Greedy decoding of many requests through a chain of ``StageModule``s, with KV caches.

    Request r joins at iteration r (iteration-level scheduling), so one call of forward_infer mixes
    a prefill with other requests' decode steps; a request leaves when it has its tokens
    (``max_new_tokens`` may be one int or one per request). Each stage keeps its own KVCache per
    request, as it would on its own rank. Must equal ``greedy_generate`` request by request.
    """
    R = len(prompts)
    budget = list(max_new_tokens) if isinstance(max_new_tokens, (list, tuple)) else [max_new_tokens] * R
    check_int("len(max_new_tokens)", len(budget), R, R)
    for r, (p, n) in enumerate(zip(prompts, budget)):
        check_int(f"len(prompts[{r}])", len(p), 1)
        check_int(f"max_new_tokens[{r}]", n, 0, stages[0].config.block_size - len(p))
    device = next(stages[0].parameters()).device
    caches = [[KVCache() for _ in range(R)] for _ in stages]            # [stage][request]
    out: list[list[int]] = [[] for _ in range(R)]
    fed = [0] * R                                                       # tokens already cached
    for step in range(R + max(budget, default=0)):
        active = [r for r in range(min(step + 1, R)) if len(out[r]) < budget[r]]
        if not active:
            continue
        new = [list(prompts[r]) if fed[r] == 0 else [out[r][-1]] for r in active]
        positions, lengths = [fed[r] for r in active], [len(t) for t in new]
        x = torch.tensor([t for toks in new for t in toks], device=device)   # (N,)
        for s, stage in enumerate(stages):
            x = stage.forward_infer(x, [caches[s][r] for r in active], positions, lengths)
        for r, logits, n in zip(active, x, lengths):                    # logits (V,) per request
            out[r].append(int(logits.argmax()))
            fed[r] += n
    return out
