"""Shipped corpus, character tokenizer and deterministic batches."""

import pytest
import torch

from ppedu.model.corpus import CharTokenizer, get_batch, load_corpus, synthetic_tokens
from ppedu.errors import UsageError


def test_corpus_is_shipped_and_sized():
    text = load_corpus()
    assert 20_000 <= len(text.encode()) <= 40_000
    assert text.isascii()


def test_tokenizer_round_trip_and_vocab():
    tok = CharTokenizer()
    text = load_corpus()
    assert tok.decode(tok.encode(text)) == text
    assert tok.vocab_size == len(set(text))
    assert tok.chars == sorted(tok.chars)
    small = CharTokenizer("abca")
    assert small.encode("cab") == [2, 0, 1] and small.decode(torch.tensor([1, 2])) == "bc"
    with pytest.raises(UsageError, match="outside the vocabulary: 'z'"):
        small.encode("az")
    with pytest.raises(UsageError, match="token id"):
        small.decode([3])


def test_get_batch_is_shifted_and_deterministic():
    x, y = get_batch(4, 16, seed=7)
    assert x.shape == y.shape == (4, 16) and x.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1])                       # y is x shifted by one
    torch.manual_seed(0)
    x2, y2 = get_batch(4, 16, seed=7)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, get_batch(4, 16, seed=8)[0])
    text = load_corpus()
    tok = CharTokenizer()
    assert tok.decode(torch.cat([x[0], y[0, -1:]])) in text       # a real window of the corpus


def test_synthetic_tokens():
    t = synthetic_tokens(1000, 11, seed=3)
    assert t.shape == (1000,) and int(t.min()) >= 0 and int(t.max()) <= 10
    assert torch.equal(t, synthetic_tokens(1000, 11, seed=3))
    x, y = get_batch(2, 8, seed=0, tokens=t)
    assert int(x.max()) < 11 and torch.equal(x[:, 1:], y[:, :-1])


@pytest.mark.parametrize("kwargs,name", [(dict(batch_size=0, seq_len=8), "batch_size"),
                                         (dict(batch_size=2, seq_len=10**9), "seq_len"),
                                         (dict(batch_size=2, seq_len=8, seed=-1), "seed")])
def test_get_batch_errors(kwargs, name):
    with pytest.raises(UsageError, match=name):
        get_batch(**kwargs)
