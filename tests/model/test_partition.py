"""Partitioning layers into pipeline stages: uniform, balanced, memory; costs and edge cases."""

import itertools

import pytest
import torch

from ppedu.errors import UsageError
from ppedu.model.gpt import GPT, GPTConfig, split_into_stages
from ppedu.model.partition import (activation_bytes, measure_layer_times, memory_costs, param_counts,
                             partition, stage_costs)

CFG = GPTConfig()




def brute_force_min_max(costs, p):
    """Best max stage cost over every contiguous split into p non-empty stages."""
    n = len(costs) - 2
    best = float("inf")
    for cuts in itertools.combinations(range(1, n), p - 1):
        edges = [0, *cuts, n]
        best = min(best, max(stage_costs(list(zip(edges, edges[1:])), costs)))
    return best


def check_contiguous(bounds, n):
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a < b for a, b in bounds)
    assert all(bounds[i][1] == bounds[i + 1][0] for i in range(len(bounds) - 1))


@pytest.mark.parametrize("n,p,sizes", [(4, 1, [4]), (4, 2, [2, 2]), (4, 3, [2, 1, 1]), (4, 4, [1, 1, 1, 1]),
                                       (7, 3, [3, 2, 2]), (8, 3, [3, 3, 2])])
def test_uniform(n, p, sizes):
    part = partition(GPTConfig(n_layer=n), p, "uniform")
    check_contiguous(part.boundaries, n)
    assert [b - a for a, b in part.boundaries] == sizes
    assert part.method == "uniform" and len(part.stage_costs) == p


def test_uniform_costs_show_the_head_on_the_last_stage():
    big_vocab = GPTConfig(vocab_size=4096, n_layer=8)
    part = partition(big_vocab, 4, "uniform")
    assert part.stage_costs[-1] == max(part.stage_costs) and part.imbalance() > 1.2
    assert part.imbalance() == pytest.approx(max(part.stage_costs) / (sum(part.stage_costs) / 4))
    assert "head" in part.table().splitlines()[-2] and "imbalance" in part.table()


def test_balanced_with_given_costs():
    costs = [0, 1, 1, 1, 1, 5]                                   # a heavy head
    part = partition(CFG, 2, "balanced", layer_costs=costs)
    assert part.boundaries == [(0, 3), (3, 4)] and part.stage_costs == [3, 6]
    assert partition(CFG, 2, "uniform", layer_costs=costs).stage_costs == [2, 7]


@pytest.mark.parametrize("trial", range(20))
def test_balanced_is_optimal(trial):
    gen = torch.Generator().manual_seed(trial)
    n = 3 + trial % 6
    costs = (torch.rand(n + 2, generator=gen) * 10).tolist()
    for p in range(1, n + 1):
        part = partition(GPTConfig(n_layer=n), p, "balanced", layer_costs=costs)
        check_contiguous(part.boundaries, n)
        assert max(part.stage_costs) == pytest.approx(brute_force_min_max(costs, p))
        assert max(part.stage_costs) <= max(partition(GPTConfig(n_layer=n), p, "uniform",
                                                      layer_costs=costs).stage_costs) + 1e-12


def test_balanced_measures_this_machine():
    times = measure_layer_times(CFG, batch_size=2, seq_len=16, repeats=2)
    assert len(times) == CFG.n_layer + 2 and all(t > 0 for t in times)
    part = partition(CFG, 2, "balanced", batch_size=2, seq_len=16)
    check_contiguous(part.boundaries, CFG.n_layer)
    assert part.unit == "s" and sum(part.stage_costs) > 0


def test_param_counts_match_the_real_model():
    model = GPT(CFG)
    stages = split_into_stages(model, [(0, 1), (1, 4)])
    counts = param_counts(CFG)
    assert sum(counts) == sum(p.numel() for p in model.parameters())
    assert counts[1] == sum(p.numel() for p in model.blocks[0].parameters())
    stage0 = sum(p.numel() for p in stages[0].parameters())
    assert stage0 == counts[0] + counts[1]


def test_activation_bytes_match_what_autograd_saves():
    """Count the bytes autograd really keeps for backward (unique storages) for one block and the head."""
    model = GPT(CFG)
    B, T = 2, 32
    x = torch.randn(B, T, CFG.n_embd, requires_grad=True)
    targets = torch.randint(CFG.vocab_size, (B, T))

    def saved_bytes(fn):
        storages = {}

        def pack(t):
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn()
        params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        return sum(v for k, v in storages.items() if k not in params)   # weights are not activations

    predicted = activation_bytes(CFG, B, T)
    block = saved_bytes(lambda: model.blocks[0](x))
    head = saved_bytes(lambda: torch.nn.functional.cross_entropy(
        model.lm_head(model.ln_f(x)).view(B * T, -1), targets.view(-1)))
    assert block == pytest.approx(predicted[1], rel=0.05)
    assert head == pytest.approx(predicted[-1], rel=0.05)


def test_memory_method():
    cfg = GPTConfig(n_layer=8, vocab_size=4096)
    part = partition(cfg, 4, "memory")
    check_contiguous(part.boundaries, 8)
    assert part.unit == "bytes"
    costs = memory_costs(cfg)
    assert max(part.stage_costs) == pytest.approx(brute_force_min_max(costs, 4))
    assert part.stage_costs == stage_costs(part.boundaries, costs)
    sizes = [b - a for a, b in part.boundaries]
    assert sizes[-1] < max(sizes)                                # the big head gets fewer blocks
    assert part.imbalance() < partition(cfg, 4, "uniform", layer_costs=costs).imbalance()


def test_partition_feeds_split_into_stages():
    part = partition(CFG, 3, "uniform")
    stages = split_into_stages(CFG, part)
    assert [(s.start, s.end) for s in stages] == part.boundaries


def test_errors():
    with pytest.raises(UsageError, match=r"^p must be at most n_layer=4 \(got 6\)$"):
        partition(CFG, 6)
    with pytest.raises(UsageError, match="p must be an integer"):
        partition(CFG, 0)
    with pytest.raises(UsageError, match="method must be one of uniform, balanced, memory"):
        partition(CFG, 2, "greedy")
    with pytest.raises(UsageError, match=r"n_layer \+ 2 = 6 entries"):
        partition(CFG, 2, "balanced", layer_costs=[1, 2, 3])
    with pytest.raises(UsageError, match="finite numbers >= 0"):
        partition(CFG, 2, "balanced", layer_costs=[0, 1, -1, 1, 1, 1])
