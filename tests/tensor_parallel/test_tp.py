"""Tensor parallelism: outputs and gradients equal the single-process model, for tp 1, 2, 4 and TP x PP."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ppedu.tensor_parallel import layers as tpm
from ppedu.model.corpus import get_batch
from ppedu.errors import UsageError
from ppedu.model.gpt import GPT, GPTConfig
from ppedu.model.partition import uniform_bounds
from ppedu.tensor_parallel.jobs import check_setup, mesh_step_job, tp_step_job

CONFIG = GPTConfig(n_layer=4, n_head=4, n_embd=32, block_size=16, seed=3)
BATCH, SEQ = 4, 16


def reference(config: GPTConfig = CONFIG):
    """Loss, logits and gradients of the single-process model on the batch the jobs use."""
    model = GPT(config)
    x, y = get_batch(BATCH, SEQ, 0)
    logits, loss = model(x, y)
    loss.backward()
    return loss.item(), logits.detach(), {n: p.grad for n, p in model.named_parameters()}


def assert_shards_match(grads: dict, ref: dict, tp_rank: int, tp: int) -> None:
    for name, grad in grads.items():
        want = tpm.shard(name, ref[name], tp_rank, tp)
        assert grad.shape == want.shape, name
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-6, msg=lambda m: f"{name}: {m}")


def test_tp1_in_process_equals_reference():
    """No process group at all (a notebook kernel): TP=1 is the plain model, parameter for parameter."""
    loss, logits, ref = reference()
    model = tpm.TPGPT(GPT(CONFIG))
    x, y = get_batch(BATCH, SEQ, 0)
    out = model(x)
    F.cross_entropy(out.view(-1, out.size(-1)), y.view(-1)).backward()
    torch.testing.assert_close(out, logits)
    assert set(dict(model.named_parameters())) == set(ref)
    assert_shards_match({n: p.grad for n, p in model.named_parameters()}, ref, 0, 1)


def test_split_and_shard_cover_the_full_tensor():
    w = torch.arange(24.0).reshape(6, 4)                       # rows = [q | k | v], 2 rows each
    parts = [tpm.split(w, 0, r, 2, fused=3) for r in range(2)]
    assert torch.equal(parts[0][:, 0], torch.tensor([0.0, 8.0, 16.0]))   # first row of q, k and v
    assert sorted(torch.cat(parts).flatten().tolist()) == w.flatten().tolist()
    assert torch.equal(tpm.shard("blocks.0.mlp.c_proj.weight", w, 1, 2), w[:, 2:])
    assert torch.equal(tpm.shard("blocks.0.mlp.c_proj.bias", w, 1, 2), w)   # replicated


@pytest.mark.ranks
@pytest.mark.parametrize("tp", [1, 2, 4])
def test_tp_outputs_and_grads_equal_single_process(cluster4, tp):
    loss, logits, ref = reference()
    out = cluster4.run(tp_step_job, CONFIG, tp, BATCH, SEQ)
    for r in out:                               # every rank (and every replica group) agrees
        assert r.loss == pytest.approx(loss, rel=1e-5)
        torch.testing.assert_close(r.logits, logits, rtol=1e-4, atol=1e-5)
        assert_shards_match(r.grads, ref, r.tp_rank, tp)
        # 2 forward (g) + 2 backward (f) all-reduces per block; tp=1 talks to nobody
        assert r.all_reduces == (4 * CONFIG.n_layer if tp > 1 else 0)
    assert sorted(r.tp_rank for r in out) == sorted(list(range(tp)) * (4 // tp))


@pytest.mark.ranks
def test_tp_x_pp_mesh_grads_equal_reference(cluster4):
    """tp=2 x pp=2 (ranks 0,1 = stage 0; 2,3 = stage 1), GPipe with 2 micro-batches."""
    loss, _, ref = reference()
    out = cluster4.run(mesh_step_job, CONFIG, 2, 2, BATCH, SEQ, microbatches=2, repeats=1,
                       return_grads=True)
    assert [(r.pp_rank, r.tp_rank) for r in out] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    seen = set()
    for r in out:
        assert_shards_match(r.grads, ref, r.tp_rank, 2)
        seen |= set(r.grads)
        step = r.steps[-1]
        assert step.all_reduces == 4 * 2 * 2               # 2 blocks per stage, 2 micro-batches
        assert step.p2p_messages == 2                      # 2 micro-batches across one border
        if r.pp_rank == 1:
            assert step.loss == pytest.approx(loss, rel=1e-5)
    assert seen == set(ref)                                 # every parameter lives somewhere


def test_bad_meshes_raise_usage_errors():
    with pytest.raises(UsageError, match=r"n_head=4 must be divisible by tp=3"):
        check_setup(CONFIG, 3, 1, BATCH)
    with pytest.raises(UsageError, match=r"n_layer must be >= pp=5"):
        check_setup(CONFIG, 1, 5, BATCH)
    with pytest.raises(UsageError, match=r"tp x pp must equal the 2 ranks \(got 2 x 2\)"):
        check_setup(CONFIG, 2, 2, BATCH, world_size=2)
    with pytest.raises(UsageError, match=r"microbatches must be an integer in 1..4"):
        check_setup(CONFIG, 1, 2, 4, microbatches=0)
    with pytest.raises(UsageError, match="dropout"):
        tpm.TPGPT(GPT(GPTConfig(n_layer=1, dropout=0.1)))
    assert uniform_bounds(5, 2) == [(0, 3), (3, 5)]
