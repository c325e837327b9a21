"""The tiny GPT: determinism, pipeline split == full model (forward and gradients), KV-cache decoding."""

import time

import pytest
import torch

from ppedu.model.corpus import corpus_vocab_size, get_batch
from ppedu.errors import UsageError
from ppedu.model.gpt import GPT, GPTConfig, split_into_stages
from ppedu.model.kvcache import KVCache, cached_generate, greedy_generate

CFG = GPTConfig()
SPLITS = [
    [(0, 4)],
    [(0, 2), (2, 4)],
    [(0, 1), (1, 3), (3, 4)],
    [(0, 1), (1, 2), (2, 3), (3, 4)],
    [(0, 1), (1, 1), (1, 2), (2, 2), (2, 3), (3, 3), (3, 4), (4, 4)],   # 8 virtual stages, some empty
]




@pytest.fixture(scope="module")
def model():
    return GPT(CFG)


def test_default_vocab_matches_corpus():
    assert CFG.vocab_size == corpus_vocab_size()


def test_construction_is_deterministic_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = GPT(CFG)
    assert torch.equal(torch.rand(3), expected_next)            # building consumed no global RNG
    torch.manual_seed(999)
    b = GPT(CFG)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and torch.equal(pa, pb)
    c = GPT(GPTConfig(seed=1))
    assert not torch.equal(a.blocks[0].attn.c_attn.weight, c.blocks[0].attn.c_attn.weight)


def test_forward_shapes_and_initial_loss(model):
    x, y = get_batch(4, 32, seed=0)
    logits, loss = model(x, y)
    assert logits.shape == (4, 32, CFG.vocab_size)
    # At init the predictions are near uniform: loss ~ ln(vocab).
    assert abs(loss.item() - torch.log(torch.tensor(float(CFG.vocab_size))).item()) < 0.3
    assert model(x)[1] is None


def test_train_step_is_fast_on_cpu():
    m = GPT(CFG)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    x, y = get_batch(8, CFG.block_size, seed=0)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        _, loss = m(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    assert min(times) < 1.0


@pytest.mark.parametrize("bounds", SPLITS, ids=lambda b: f"{len(b)}stages")
def test_stage_params_are_copies_with_full_names(model, bounds):
    stages = split_into_stages(model, bounds)
    full = dict(model.named_parameters())
    seen = []
    for st in stages:
        for name, p in st.named_parameters():
            assert st.full_names()[name] == name
            assert torch.equal(p, full[name]) and p.data_ptr() != full[name].data_ptr()
            seen.append(name)
    assert sorted(seen) == sorted(full)                          # every parameter exactly once
    assert stages[0].is_first and stages[-1].is_last and len(stages) == len(bounds)


@pytest.mark.parametrize("bounds", SPLITS, ids=lambda b: f"{len(b)}stages")
def test_split_forward_equals_full(model, bounds):
    x, y = get_batch(4, 48, seed=1)
    logits, loss = model(x, y)
    stages = split_into_stages(CFG, bounds)                      # from the config: same seed, same weights
    h = x
    for st in stages[:-1]:
        h = st(h)
    assert torch.allclose(stages[-1](h, y), loss, atol=1e-6)
    h = x
    for st in stages:
        h = st(h)
    assert torch.allclose(h, logits, atol=1e-5)


def run_pipeline_step(stages, x, y, m):
    """One step the way a pipeline runs it: per micro-batch, each stage sees a detached input that
    requires grad; backward goes stage by stage with grad_tensors = the next stage's input grad."""
    for xm, ym in zip(x.chunk(m), y.chunk(m)):
        inputs, outputs = [], []
        h = xm
        for st in stages:
            h_in = h if st.is_first else h.detach().requires_grad_()
            out = st(h_in, ym) if st.is_last else st(h_in)
            inputs.append(h_in)
            outputs.append(out)
            h = out
        torch.autograd.backward(outputs[-1] / m)                 # mean over micro-batches
        for s in range(len(stages) - 2, -1, -1):
            torch.autograd.backward(outputs[s], grad_tensors=inputs[s + 1].grad)


@pytest.mark.parametrize("m", [1, 2, 4])
@pytest.mark.parametrize("bounds", SPLITS[1:], ids=lambda b: f"{len(b)}stages")
def test_split_gradients_equal_full(bounds, m):
    full = GPT(CFG)
    x, y = get_batch(8, 32, seed=2)
    full(x, y)[1].backward()
    stages = split_into_stages(CFG, bounds)
    run_pipeline_step(stages, x, y, m)
    grads = dict(full.named_parameters())
    n_checked = 0
    for st in stages:
        for name, p in st.named_parameters():
            assert p.grad is not None, name
            torch.testing.assert_close(p.grad, grads[st.full_names()[name]].grad, atol=1e-6, rtol=1e-4)
            n_checked += 1
    assert n_checked == len(grads)


def test_gradient_check_can_fail():
    """A pipeline that drops a micro-batch must not pass the comparison above."""
    full = GPT(CFG)
    x, y = get_batch(8, 32, seed=2)
    full(x, y)[1].backward()
    stages = split_into_stages(CFG, [(0, 2), (2, 4)])
    run_pipeline_step(stages, x[:4], y[:4], 1)                   # only half the batch
    g = stages[0].wte.weight.grad
    assert not torch.allclose(g, full.wte.weight.grad, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("bad", [[(0, 2)], [(0, 2), (3, 4)], [(1, 4)], [(0, 3), (2, 4)], [], [(0, 5)]])
def test_bad_boundaries_raise(bad):
    with pytest.raises(UsageError, match="boundaries"):
        split_into_stages(CFG, bad)


def test_config_errors():
    with pytest.raises(UsageError, match="n_embd must be a multiple of n_head=3"):
        GPTConfig(n_head=3)
    with pytest.raises(UsageError, match="n_layer"):
        GPTConfig(n_layer=0)
    with pytest.raises(UsageError, match="sequence length"):
        GPT(CFG)(torch.zeros(1, CFG.block_size + 1, dtype=torch.long))


# ---------------------------------------------------------------- KV cache and serving
PROMPTS = [[5, 17, 30], [40], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [33, 33, 20, 8, 51, 0, 9]]


def min_margin(model, prompt, tokens):
    """Smallest top-1 minus top-2 logit gap along the reference decode: how far from an argmax tie."""
    ids, gaps = list(prompt), []
    with torch.no_grad():
        for t in tokens:
            top2 = model(torch.tensor([ids]))[0][0, -1].topk(2).values
            gaps.append((top2[0] - top2[1]).item())
            ids.append(t)
    return min(gaps)


@pytest.mark.parametrize("bounds", [[(0, 4)], [(0, 1), (1, 3), (3, 4)], SPLITS[-1]],
                         ids=lambda b: f"{len(b)}stages")
def test_cached_selective_decode_equals_reference(model, bounds):
    ref = [greedy_generate(model, p, 12) for p in PROMPTS]
    # Tie-free: batched float sums may differ from the reference in the last bits (~1e-7), so the
    # test is only meaningful where no step is closer to a tie than that. Fixed seed: documented.
    assert min(min_margin(model, p, r) for p, r in zip(PROMPTS, ref)) > 1e-4
    assert len({tuple(r) for r in ref}) > 1                      # the requests really differ
    out = cached_generate(split_into_stages(model, bounds), PROMPTS, 12)
    assert out == ref


def test_requests_leaving_at_different_times(model):
    budgets = [3, 12, 1, 7]
    ref = [greedy_generate(model, p, n) for p, n in zip(PROMPTS, budgets)]
    assert cached_generate(split_into_stages(model, [(0, 2), (2, 4)]), PROMPTS, budgets) == ref


def test_forward_infer_logits_match_full_forward(model):
    """Prefill of two requests in one call, then a decode step: logits equal the no-cache model's."""
    (stage,) = split_into_stages(model, [(0, 4)])
    a, b = PROMPTS[0], PROMPTS[2]
    caches = [KVCache(), KVCache()]
    logits = stage.forward_infer(torch.tensor(a + b), caches, [0, 0], [len(a), len(b)])   # (2, V)
    for row, p in zip(logits, (a, b)):
        torch.testing.assert_close(row, model(torch.tensor([p]))[0][0, -1], atol=1e-5, rtol=1e-5)
    assert caches[1].layer(3).k.shape == (CFG.n_head, len(b), CFG.n_embd // CFG.n_head)
    step = stage.forward_infer(torch.tensor([7, 9]), caches, [len(a), len(b)], [1, 1])
    torch.testing.assert_close(step[1], model(torch.tensor([b + [9]]))[0][0, -1], atol=1e-5, rtol=1e-5)
    assert caches[0].nbytes == 2 * CFG.n_layer * (len(a) + 1) * CFG.n_embd * 4


def test_forward_infer_rejects_out_of_sync_cache(model):
    (stage,) = split_into_stages(model, [(0, 4)])
    cache = KVCache()
    stage.forward_infer(torch.tensor([1, 2, 3]), [cache], [0], [3])
    with pytest.raises(UsageError, match="cached length 3"):
        stage.forward_infer(torch.tensor([4]), [cache], [2], [1])   # a server that lost a step
    with pytest.raises(UsageError, match="block_size|64"):
        stage.forward_infer(torch.zeros(CFG.block_size, dtype=torch.long), [cache], [3], [CFG.block_size])


def test_generate_errors(model):
    with pytest.raises(UsageError, match="max_new_tokens"):
        greedy_generate(model, [1] * 60, 10)
    with pytest.raises(UsageError, match="prompt"):
        greedy_generate(model, [], 3)
    with pytest.raises(UsageError, match="len\\(max_new_tokens\\)"):
        cached_generate(split_into_stages(model, [(0, 4)]), PROMPTS, [1, 2])
