"""Measured activation memory and recomputation: what autograd really keeps, and equal gradients.

The meter (``ppedu.model.memory.SavedTensorMeter``) is checked against hand-made graphs, then the
tiny GPT's measured bytes against Korthikanti et al. 2022's formula at fp32 without dropout
(``ppedu.planner.formulas``), then recomputation in the pipeline against the single-process model.
"""

from __future__ import annotations

import json

import pytest
import torch

from ppedu.cli import main
from ppedu.errors import UsageError
from ppedu.model.corpus import get_batch
from ppedu.model.gpt import GPT, GPTConfig, set_recompute
from ppedu.model.memory import SavedTensorMeter, activation_meter
from ppedu.planner.formulas import layer_activation_bytes
from ppedu.training.engine import TrainConfig, train

B, T, C, NH = 2, 32, 64, 4


def test_meter_counts_a_storage_once_skips_parameters_and_frees_after_backward():
    w = torch.nn.Parameter(torch.randn(8, 8))
    x = torch.randn(4, 8, requires_grad=True)
    meter = SavedTensorMeter(exclude=[w])
    with meter:
        y = x @ w            # saves x (and w, excluded)
        z = (y * y).sum()    # saves y twice: one storage
        assert meter.live_bytes == 4 * 8 * 4 + 4 * 8 * 4
        z.backward()
    assert meter.live_bytes == 0 and meter.peak_bytes == 2 * 4 * 8 * 4
    assert activation_meter(torch.device("cpu"), measure=False).__class__.__name__ == "nullcontext"


def _block_bytes(recompute: str) -> tuple[int, int]:
    model = set_recompute(GPT(GPTConfig(n_layer=1, n_head=NH, n_embd=C)), recompute)
    h = torch.randn(B, T, C, requires_grad=True)
    meter = SavedTensorMeter(exclude=model.parameters())
    with meter:
        out = model.blocks[0](h)
        held = meter.live_bytes
        out.sum().backward()
    return held, meter.live_bytes


@pytest.mark.parametrize("recompute", ["none", "selective", "full"])
def test_tiny_gpt_block_keeps_what_the_formula_says(recompute):
    """Measured bytes of one block = Korthikanti's terms at fp32 without dropout, plus what the
    formula ignores: LayerNorm's mean and rstd (2 x 2 x B x T floats) and the T x T causal mask."""
    held, after = _block_bytes(recompute)
    formula = layer_activation_bytes(T, B, C, NH, recompute=recompute, dropout=False, value_bytes=4)
    small = {"none": 2 * 2 * B * T * 4 + T * T, "selective": 2 * 2 * B * T * 4, "full": 0}[recompute]
    assert held == formula + small
    assert after == 0                                     # backward freed everything it saved


def test_recompute_leaves_gradients_unchanged():
    x, y = get_batch(4, T, seed=0)
    grads = {}
    for mode in ("none", "selective", "full"):
        model = set_recompute(GPT(GPTConfig(n_layer=2, n_head=NH, n_embd=C)), mode)
        model(x, y)[1].backward()
        grads[mode] = {n: q.grad for n, q in model.named_parameters()}
    for mode in ("selective", "full"):
        for name, g in grads["none"].items():
            torch.testing.assert_close(grads[mode][name], g, rtol=0, atol=1e-6, msg=f"{mode} {name}")
    with pytest.raises(UsageError, match="recompute must be one of none, selective, full"):
        set_recompute(GPT(GPTConfig(n_layer=1)), "some")


@pytest.mark.ranks
@pytest.mark.parametrize("schedule", ["1f1b", "zb1"])
def test_pipeline_recompute_cuts_measured_activations_with_equal_gradients(cluster2, schedule):
    runs = {mode: train(TrainConfig(schedule, 2, 4, workload="model", recompute=mode, check_grads=True),
                        group=cluster2) for mode in ("none", "selective", "full")}
    peaks = {mode: r.per_rank[0].peak_activation_bytes for mode, r in runs.items()}
    for mode, r in runs.items():
        assert r.grad_max_abs_diff < 1e-5, mode
        assert r.activation_memory_method == "saved_tensor_hooks"
    assert peaks["none"] > peaks["selective"] > peaks["full"] > 0
    # rank 0 of 1F1B (p=2) holds 2 micro-batches of 2 blocks: the formula, scaled, within 1 %
    per_layer = layer_activation_bytes(T, 2, C, NH, dropout=False, value_bytes=4)
    assert peaks["none"] == pytest.approx(2 * 2 * per_layer, rel=0.01)
    assert peaks["full"] == pytest.approx(2 * 2 * (B * T * C * 4), rel=0.05)


@pytest.mark.ranks
def test_measurement_step_only_and_methods(cluster2):
    model = train(TrainConfig("1f1b", 2, 2, workload="model", steps=2), group=cluster2)
    assert model.per_rank[0].peak_activation_bytes > 0          # step 0's measurement, reported
    assert any("step 0 only" in n for n in model.notes)
    timed = train(TrainConfig("1f1b", 2, 2, workload="timed", tf_ms=1, tb_ms=1), group=cluster2)
    assert timed.activation_memory_method == "held_tensors"
    assert timed.summary()["activation_memory_method"] == "held_tensors"
    with pytest.raises(UsageError, match="recompute='full' needs workload='model'"):
        TrainConfig(recompute="full")


@pytest.mark.ranks
def test_cli_train_recompute(capsys, cluster2):
    assert main(["train", "-p", "2", "-m", "2", "--workload", "model", "--recompute", "full",
                 "--check-grads", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["recompute"] == "full" and out["grad_max_abs_diff"] < 1e-5
    assert out["activation_memory_method"] == "saved_tensor_hooks"
    assert main(["train", "-p", "2", "--workload", "model", "--recompute", "most"]) == 2
    assert "recompute must be one of none, selective, full" in capsys.readouterr().err


@pytest.mark.ranks
def test_training_panel_has_a_recompute_control(cluster2):
    from ppedu.notebook.widgets import training as widgets
    panel = widgets.training_panel(controls=("schedule", "p", "m", "workload", "recompute"),
                                   workload="model", p=2, m=2, recompute="selective", group=cluster2)
    assert list(panel.controls["recompute"].options) == ["none", "selective", "full"]
    figs, text = widgets.run_training({"workload": "model", "p": 2, "m": 2, "recompute": "full"},
                                      group=cluster2)
    assert "recompute full" in text and "saved-tensor hooks" in figs[1].layout.xaxis.title.text
    assert widgets.run_training({"recompute": "full"}, group=cluster2)[1].startswith("⚠")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the allocator method needs a GPU")
def test_cuda_allocator_sees_at_least_what_autograd_saves():
    device = torch.device("cuda")
    model = GPT(GPTConfig(n_layer=2, n_head=NH, n_embd=C)).to(device)
    x, y = (t.to(device) for t in get_batch(4, T, seed=0))
    hooks = SavedTensorMeter(exclude=model.parameters())
    with hooks:
        model(x, y)[1].backward()
    model.zero_grad(set_to_none=True)
    allocator = activation_meter(device, model.parameters())
    with allocator:
        model(x, y)[1].backward()
    assert allocator.method == "cuda_allocator"
    assert allocator.peak_bytes >= hooks.peak_bytes > 0   # it also sees gradients and temporaries
