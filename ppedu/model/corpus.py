"""Data for the tiny GPT: a shipped English corpus, a character tokenizer, deterministic batches.

Read top-down:
  load_corpus      the text in ppedu/assets/tiny_corpus.txt (an original essay on pipelines, ~24 KB)
  CharTokenizer    one token per character; the vocabulary is the corpus's sorted character set
  corpus_tokens    the whole corpus as one int64 tensor
  get_batch        (x, y) windows of tokens, y shifted by one: a pure function of the seed
  synthetic_tokens random tokens, for workloads that only need shapes (no text, any vocab size)

Everything is deterministic: the same seed gives the same batch on every rank and every run,
which is what lets a pipeline's gradients be compared with a single-process reference.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from ppedu.errors import UsageError, check_int
from ppedu.i18n.messages import _

CORPUS_PATH = Path(__file__).parent.parent / "assets" / "tiny_corpus.txt"


@lru_cache(maxsize=1)
def load_corpus() -> str:
    """The shipped corpus as one string (read once, then cached)."""
    return CORPUS_PATH.read_text(encoding="utf-8")


class CharTokenizer:
    """Character-level tokenizer: token id = index of the character in the sorted vocabulary.

    Characters are the simplest tokens there are: no training, no merges, and a vocabulary of a
    few dozen symbols, which keeps the embedding and the head small next to the blocks.
    """

    def __init__(self, text: str | None = None):
        text = load_corpus() if text is None else text
        if not text:
            raise UsageError(_("text must be a non-empty string (got '')"))
        self.chars: list[str] = sorted(set(text))
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Text -> token ids. Raises UsageError on a character outside the vocabulary."""
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise UsageError(_("text contains a character outside the vocabulary: {char} (vocabulary: {vocab})").format(
                char=repr(e.args[0]), vocab=repr("".join(self.chars)))) from None

    def decode(self, ids) -> str:
        """Token ids (list or tensor) -> text."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        for i in ids:
            check_int("token id", i, 0, self.vocab_size - 1)
        return "".join(self.chars[i] for i in ids)


@lru_cache(maxsize=1)
def default_tokenizer() -> CharTokenizer:
    """The tokenizer of the shipped corpus (built once)."""
    return CharTokenizer()


def corpus_vocab_size() -> int:
    """Vocabulary size of the shipped corpus: the default ``GPTConfig.vocab_size``."""
    return default_tokenizer().vocab_size


@lru_cache(maxsize=1)
def corpus_tokens() -> torch.Tensor:
    """The whole corpus as a 1-D int64 tensor of token ids."""
    return torch.tensor(default_tokenizer().encode(load_corpus()), dtype=torch.long)


def get_batch(batch_size: int, seq_len: int, seed: int = 0,
              tokens: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``batch_size`` random windows of ``seq_len`` tokens: inputs x and next-token targets y.

    x, y: (batch_size, seq_len) int64 with y[:, t] == x[:, t + 1] inside the stream. A local
    Generator seeded with ``seed`` picks the offsets, so the result never depends on (or changes)
    the global RNG. ``tokens`` defaults to the shipped corpus; pass ``synthetic_tokens(...)`` for
    random data.
    """
    tokens = corpus_tokens() if tokens is None else tokens
    check_int("batch_size", batch_size, 1)
    check_int("seq_len", seq_len, 1, len(tokens) - 1)
    check_int("seed", seed, 0)
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(len(tokens) - seq_len, (batch_size,), generator=gen)   # (B,)
    offsets = starts[:, None] + torch.arange(seq_len + 1)                          # (B, T+1)
    window = tokens[offsets]                                                       # (B, T+1)
    return window[:, :-1].contiguous(), window[:, 1:].contiguous()


def synthetic_tokens(n_tokens: int, vocab_size: int, seed: int = 0) -> torch.Tensor:
    """``n_tokens`` uniformly random token ids in [0, vocab_size): (n_tokens,) int64, seeded."""
    check_int("n_tokens", n_tokens, 2)
    check_int("vocab_size", vocab_size, 1)
    check_int("seed", seed, 0)
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(vocab_size, (n_tokens,), generator=gen)
