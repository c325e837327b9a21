"""``ppedu plan``'s precision options: 16 or 18 bytes of model state per parameter (ZeRO's
mixed-precision count vs Megatron-LM's bf16 default with fp32 gradients) and 2- or 4-byte
activations (fp32 training, e.g. torchtitan with TP/PP but no FSDP)."""

from __future__ import annotations

import pytest

from ppedu.errors import UsageError
from ppedu.instructor.book.check import run_cli
from ppedu.planner.models import get_model
from ppedu.planner.plan import Layout, plan


def test_eighteen_bytes_adds_two_per_parameter_all_in_the_gradient() -> None:
    spec, kw = get_model("gpt3-175b"), dict(tp=8, pp=8, m=64, recompute="selective")
    zero, megatron = plan(spec, Layout(**kw)), plan(spec, Layout(**kw, bytes_per_param=18))
    params = zero["params_per_gpu"]
    assert megatron["grad_bytes_per_gpu"] == 2 * zero["grad_bytes_per_gpu"] == 4 * params
    assert megatron["total_bytes_per_gpu"] - zero["total_bytes_per_gpu"] == 2 * params
    assert megatron["optimizer_bytes_per_gpu"] == zero["optimizer_bytes_per_gpu"] == 12 * params
    assert zero["notes"][0].startswith("16 bytes") and megatron["notes"][0].startswith("18 bytes")
    assert "fp32 gradients" in megatron["notes"][0] and "--bytes-per-param 18" in zero["notes"][0]


def test_fp32_activations_double_every_stored_value() -> None:
    """Llama has no dropout masks (the only 1-byte tensors), so 4-byte values double it exactly."""
    spec = get_model("llama2-7b")
    for recompute in ("none", "selective", "full"):
        half = plan(spec, Layout(pp=4, m=8, recompute=recompute))
        full = plan(spec, Layout(pp=4, m=8, recompute=recompute, activation_bytes=4))
        assert full["activation_bytes_per_gpu"] == pytest.approx(2 * half["activation_bytes_per_gpu"])
        assert any("fp32 activations" in n for n in full["notes"])


@pytest.mark.parametrize("kwargs", [{"bytes_per_param": 17}, {"activation_bytes": 1}])
def test_other_precisions_are_refused(kwargs) -> None:
    with pytest.raises(UsageError, match=next(iter(kwargs))):
        Layout(**kwargs)


def test_cli_offers_both() -> None:
    rc, out = run_cli("plan --model gpt3-175b --tp 8 -p 8 -m 64 --recompute selective --bytes-per-param 18")
    want = plan(get_model("gpt3-175b"), Layout(tp=8, pp=8, m=64, recompute="selective", bytes_per_param=18))
    assert rc == 0 and "18 bytes/parameter" in out and f"grads {want['grad_bytes_per_gpu'] / 2 ** 30:.1f}" in out
    assert run_cli("plan --model gpt3-175b --bytes-per-param 12")[0] == 2
    assert run_cli("plan --model gpt3-175b --activation-bytes 3")[0] == 2
