"""The KV cache of a stage laid out in blocks (vLLM's PagedAttention memory, Kwon et al. SOSP'23 §4.1).

One pool per layer the stage owns: keys and values of shape (n_blocks, n_head, block_size, hd),
allocated once. A request's tokens live in the blocks its block table names (the stage's
``BlockManager`` hands them out), token t at block ``table[t // B]``, offset ``t % B``: the blocks
of one request need not be contiguous, and nothing is reserved beyond its last block.

``PagedKVCache(pool, table)`` has the interface of ``ppedu.model.kvcache.KVCache`` (``layer(i)``
returns an object with ``length`` and ``append(k, v) -> (all keys, all values)``), so the model's
attention code runs unchanged: ``append`` writes the new tokens into their slots and gathers the
request's blocks back into one (nh, t, hd) tensor. (A GPU kernel would read the blocks in place;
the gather keeps the tiny GPT's attention code as it is.)
"""

from __future__ import annotations

import torch


class BlockPool:
    """Per layer: a keys and a values tensor of (n_blocks, n_head, block_size, hd), made on first use."""

    def __init__(self, n_blocks: int, block_size: int, n_head: int, head_dim: int):
        self.n_blocks, self.block_size, self.n_head, self.head_dim = n_blocks, block_size, n_head, head_dim
        self.k: dict[int, torch.Tensor] = {}
        self.v: dict[int, torch.Tensor] = {}

    def layer(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if i not in self.k:
            shape = (self.n_blocks, self.n_head, self.block_size, self.head_dim)
            self.k[i], self.v[i] = torch.zeros(shape), torch.zeros(shape)
        return self.k[i], self.v[i]


class PagedLayerKV:
    """One request's keys/values in one layer, stored in the pool's blocks named by ``table``."""

    def __init__(self, pool: BlockPool, layer: int, table: list[int]):
        self.pool, self.index, self.table = pool, layer, table
        self.length = 0

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new tokens' (nh, L, hd) keys/values; return all of them, (nh, length, hd)."""
        B = self.pool.block_size
        keys, values = self.pool.layer(self.index)
        positions = torch.arange(self.length, self.length + k.size(1))
        blocks = torch.tensor(self.table, dtype=torch.long)[positions // B]
        keys[blocks, :, positions % B, :] = k.detach().transpose(0, 1).to(keys.dtype)   # (L, nh, hd)
        values[blocks, :, positions % B, :] = v.detach().transpose(0, 1).to(values.dtype)
        self.length += k.size(1)
        used = torch.tensor(self.table[:-(-self.length // B)], dtype=torch.long)
        gather = lambda pool: pool[used].transpose(0, 1).reshape(self.pool.n_head, -1, self.pool.head_dim)  # noqa: E731
        return gather(keys)[:, :self.length], gather(values)[:, :self.length]


class PagedKVCache:
    """One request's cache on one stage, in blocks: ``layer(i)`` like ``KVCache.layer(i)``."""

    def __init__(self, pool: BlockPool, table: list[int]):
        self.pool, self.table = pool, table          # ``table`` grows in place as blocks are added
        self.layers: dict[int, PagedLayerKV] = {}

    def layer(self, i: int) -> PagedLayerKV:
        if i not in self.layers:
            self.layers[i] = PagedLayerKV(self.pool, i, self.table)
        return self.layers[i]
