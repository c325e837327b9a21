"""A paged KV cache's block manager (vLLM, Kwon et al. SOSP'23, §4.2-4.5).

KV memory per stage is ``n_blocks`` fixed-size blocks of ``block_size`` tokens. A request owns a
list of blocks (its block table) that grows one block at a time as its tokens arrive and is freed
when it finishes or is preempted. Nothing is reserved for tokens that may never come, so the only
waste is the unfilled tail of each request's last block (less than one block per request).
Earlier systems reserved every request's maximum length up front (vLLM §3: 20-38% of the KV
memory held actual tokens); ``reserve_max_blocks`` counts what that would have needed.

The driver's scheduler decides with one BlockManager (every stage holds the KV of the same tokens
for its own layers, so one count serves all stages); each stage keeps its own copy, fed the same
allocations in the same order, and fails loudly if it ever runs out (``ppedu.serving.stage``).
"""

from __future__ import annotations

from ppedu.errors import check_int


# vLLM's Fig. 2 (Kwon et al. SOSP'23, p. 2): the share of KV memory holding token states, as published
PUBLISHED_TOKEN_SHARE = {"Orca (Max)": 0.204, "Orca (Pow2)": 0.268, "Orca (Oracle)": 0.382, "vLLM": 0.963}


def token_share_gain(paged: float, reserved: float) -> float:
    """How many times more tokens the same KV memory holds when ``paged`` of it stores tokens
    instead of ``reserved`` (a ratio of shares: the "memory utilisation" gain the seeds quote)."""
    return paged / reserved


def blocks_for(tokens: int, block_size: int) -> int:
    """Blocks holding ``tokens`` tokens: ceil(tokens / block_size)."""
    return -(-tokens // block_size)


class BlockManager:
    """Free list + block tables. ``allocate`` grows a table, ``free`` returns it; peak tracked."""

    def __init__(self, n_blocks: int, block_size: int):
        self.n_blocks = check_int("kv_blocks", n_blocks, 1)
        self.block_size = check_int("block_size", block_size, 1)
        self.free_ids = list(range(n_blocks - 1, -1, -1))    # pop() hands out block 0 first
        self.tables: dict[int, list[int]] = {}
        self.tokens: dict[int, int] = {}                       # tokens each request stores
        self.peak_used = 0

    @property
    def used(self) -> int:
        return self.n_blocks - len(self.free_ids)

    def extra_blocks(self, rid: int, tokens: int) -> int:
        """Blocks ``rid`` must still get to hold ``tokens`` tokens in total."""
        return max(0, blocks_for(tokens, self.block_size) - len(self.tables.get(rid, ())))

    def can_allocate(self, rid: int, tokens: int) -> bool:
        return self.extra_blocks(rid, tokens) <= len(self.free_ids)

    def allocate(self, rid: int, tokens: int) -> list[int]:
        """Grow ``rid``'s table to hold ``tokens`` tokens; return its table."""
        need = self.extra_blocks(rid, tokens)
        if need > len(self.free_ids):
            raise RuntimeError(f"KV cache out of blocks: request {rid} needs {need} more, "
                               f"{len(self.free_ids)} of {self.n_blocks} free")
        table = self.tables.setdefault(rid, [])
        table.extend(self.free_ids.pop() for _ in range(need))
        self.tokens[rid] = max(tokens, self.tokens.get(rid, 0))
        self.peak_used = max(self.peak_used, self.used)
        return table

    def free(self, rid: int) -> None:
        """Return ``rid``'s blocks (finished or preempted); unknown ids are ignored."""
        self.free_ids.extend(reversed(self.tables.pop(rid, [])))
        self.tokens.pop(rid, None)

    def stored_tokens(self) -> int:
        return sum(self.tokens.values())
