"""`ppedu plan`: the formulas against published figures, the layout arithmetic, the CLI and the panel.

Published sources checked here:
  Korthikanti et al. 2022 (arXiv 2205.05198): eq. 1 and Table 2 (activations per layer), the
      Table 3 models (22B, 175B, 530B, 1T; s = 2048, t = 8) and the abstract's "about 5x" reduction
  Narayanan et al. 2021 (Megatron-LM, arXiv 2104.04473): Table 1 (parameters, heads, hidden,
      layers, tp, pp, GPUs, batch) on 80 GB A100s
  the course's tiny GPT: its measured saved bytes (tests/model/test_memory.py) are this formula at fp32
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ppedu.cli import main
from ppedu.errors import UsageError
from ppedu.planner import formulas as fm
from ppedu.planner.models import MODELS, ModelSpec, get_model
from ppedu.planner.plan import GIB, Layout, choose_m, plan

S = 2048
KORTHIKANTI_TABLE3 = {"22B": (64, 6144, 48, 1), "175B": (96, 12288, 96, 8), "530B": (128, 20480, 105, 35),
                      "1T": (160, 25600, 128, 64)}          # heads, hidden, layers, pipeline stages
# billions, heads, hidden, layers, tp, pp, GPUs, global batch
MEGATRON_TABLE1 = [(1.7, 24, 2304, 24, 1, 1, 32, 512), (3.6, 32, 3072, 30, 2, 1, 64, 512),
                   (7.5, 32, 4096, 36, 4, 1, 128, 512), (18.4, 48, 6144, 40, 8, 1, 256, 1024),
                   (39.1, 64, 8192, 48, 8, 2, 512, 1536), (76.1, 80, 10240, 60, 8, 4, 1024, 1792),
                   (145.6, 96, 12288, 80, 8, 8, 1536, 2304), (310.1, 128, 16384, 96, 8, 16, 1920, 2160),
                   (529.6, 128, 20480, 105, 8, 35, 2520, 2520), (1008.0, 160, 25600, 128, 8, 64, 3072, 3072)]


def per_sbh(t=1, sp=False, recompute="none", h=12288, a=96, b=1):
    return fm.layer_activation_bytes(S, b, h, a, t, sp, recompute) / (S * b * h)


def test_table2_of_korthikanti():
    """GPT-3 (a=96, h=12288): 5as/h = 80, so eq. 1 gives 34 + 80 bytes per s*b*h."""
    assert per_sbh() == pytest.approx(34 + 80)
    assert per_sbh(t=8) == pytest.approx(10 + 24 / 8 + 80 / 8)          # eq. 2, tensor parallel
    assert per_sbh(t=8, sp=True) == pytest.approx((34 + 80) / 8)        # eq. 4, + sequence parallel
    assert per_sbh(t=8, sp=True, recompute="selective") == pytest.approx(34 / 8)   # eq. 6
    assert per_sbh(t=8, recompute="selective") == pytest.approx(10 + 24 / 8)
    assert per_sbh(recompute="full") == pytest.approx(2)                 # the layer input only
    assert per_sbh(t=8, sp=True, recompute="full") == pytest.approx(2 / 8)
    assert fm.layer_activation_bytes(S, 4, 12288, 96) == pytest.approx(4 * fm.layer_activation_bytes(S, 1, 12288, 96))


@pytest.mark.parametrize("name", KORTHIKANTI_TABLE3)
def test_sequence_parallel_plus_selective_saves_about_5x(name):
    heads, hidden, _layers, _p = KORTHIKANTI_TABLE3[name]
    ratio = per_sbh(t=8, h=hidden, a=heads) / per_sbh(t=8, sp=True, recompute="selective", h=hidden, a=heads)
    assert 4.5 < ratio < 6.5, f"{name}: {ratio:.2f}x"


def test_gpt3_needs_sequence_parallelism_or_recompute_on_80gb():
    """Korthikanti's 175B setting (t=8, p=8, b=1, 1F1B): the tensor-parallel baseline does not fit
    an 80 GB GPU; SP + selective recomputation does, with activations about 5x smaller."""
    spec = get_model("gpt3-175b")
    base = plan(spec, Layout(tp=8, pp=8, m=64, sequence_parallel=False))
    best = plan(spec, Layout(tp=8, pp=8, m=64, recompute="selective"))
    assert not base["fits"] and "does not fit" in base["reason"] and "rank 0" in base["reason"]
    assert best["fits"]
    assert base["activation_bytes_per_gpu"] / best["activation_bytes_per_gpu"] == pytest.approx(23 / 4.25, rel=0.02)
    # sec. 4.3: 1F1B's first stage holds p micro-batches of L/p layers = L layers' worth
    assert best["stages"][0]["microbatches_held"] == 8 and best["stages"][0]["layers"] == 12
    sbh = S * 12288
    assert best["activation_bytes_per_gpu"] == pytest.approx(96 * 34 * sbh / 8, rel=0.01)


@pytest.mark.parametrize("row", MEGATRON_TABLE1, ids=lambda r: f"{r[0]}B")
def test_megatron_table1_parameters_and_fit(row):
    billions, heads, hidden, layers, tp, pp, gpus, batch = row
    spec = ModelSpec(f"{billions}B", layers, hidden, heads, S, 51200)
    assert fm.total_params(spec) / 1e9 == pytest.approx(billions, abs=max(0.05, 1e-3 * billions))  # 1 decimal
    dp = gpus // (tp * pp)
    result = plan(spec, Layout(tp=tp, pp=pp, dp=dp, m=batch // dp, recompute="full",
                               sequence_parallel=False))
    assert result["gpus"] == gpus and result["global_batch"] == batch
    assert result["fits"], result["reason"]           # they ran on 80 GB A100s


def test_interleaving_factor_and_gpipe():
    """Korthikanti sec. 4.3: interleaving holds L (1 + (p-1)/(p v)) layers' worth; GPipe m micro-batches."""
    spec, p, v = get_model("gpt3-175b"), 8, 2
    one = plan(spec, Layout(tp=8, pp=p, m=16, recompute="selective"))["stages"][0]
    inter = plan(spec, Layout(tp=8, pp=p, m=16, schedule="interleaved", v=v, recompute="selective"))["stages"][0]
    per_layer = fm.layer_activation_bytes(S, 1, 12288, 96, 8, True, "selective")
    assert inter["activation_bytes"] / per_layer == pytest.approx(96 * (1 + (p - 1) / (p * v)), rel=0.01)
    assert one["activation_bytes"] / per_layer == pytest.approx(96, rel=0.01)
    gpipe = plan(spec, Layout(tp=8, pp=p, m=16, schedule="gpipe", recompute="selective"))["stages"][0]
    assert gpipe["microbatches_held"] == 16


def test_zero_bubble_and_v_schedules_hold_what_theory_says():
    """ZB-H2 holds 2p-1 micro-batches on rank 0 (Qi et al. 2024, sec. 2.2); ZB-V 2p chunks of
    L/(2p) layers, 1F1B's L layers' worth, at a smaller bubble; the simulator answers where no
    closed form does (ZB-V with m < 2p-1)."""
    spec, p = get_model("gpt3-175b"), 8
    one = plan(spec, Layout(tp=8, pp=p, m=64, recompute="selective"))
    zb2 = plan(spec, Layout(tp=8, pp=p, m=64, schedule="zb2", recompute="selective"))
    zbv = plan(spec, Layout(tp=8, pp=p, m=64, schedule="zbv", recompute="selective"))
    assert zb2["stages"][0]["microbatches_held"] == 2 * p - 1
    assert zbv["layout"]["v"] == 2 and zbv["stages"][0]["layers"] == 2 * 96 // (2 * p)
    per_layer = fm.layer_activation_bytes(S, 1, 12288, 96, 8, True, "selective")
    ends = 8 * (fm.embedding_activation_bytes(S, 1, 12288, 8, True)      # V: rank 0 also holds
                + fm.head_activation_bytes(S, 1, 12288, 51200, 8))          # the output layer
    assert (zbv["stages"][0]["activation_bytes"] - ends) / per_layer == pytest.approx(96)
    assert zbv["bubble_fraction"] < one["bubble_fraction"]
    small = plan(spec, Layout(tp=8, pp=p, m=4, schedule="zbv", recompute="selective"))
    assert 0 < small["bubble_fraction"] < 1


def test_state_bytes_and_zero1():
    spec = get_model("llama2-70b")
    r = plan(spec, Layout(tp=8, pp=4, dp=8, m=32))
    n = r["params_per_gpu"]
    assert (r["param_bytes_per_gpu"], r["grad_bytes_per_gpu"], r["optimizer_bytes_per_gpu"]) == (2 * n, 2 * n, 12 * n)
    z = plan(spec, Layout(tp=8, pp=4, dp=8, m=32, zero1=True))
    assert z["optimizer_bytes_per_gpu"] == pytest.approx(12 * n / 8)
    assert sum(s["params"] for s in r["stages"]) == pytest.approx(fm.total_params(spec) / 8, rel=1e-6)
    assert any("SwiGLU" in note for note in r["notes"])      # says where the GPT formula is stretched


def test_named_models_match_their_published_sizes():
    expected = {"gpt3-175b": 175, "megatron-39b": 39.1, "llama-65b": 65.2, "llama2-7b": 6.7,
                "llama2-70b": 69.0, "llama3-405b": 405,
                "gpt3-2.7b": 2.65}   # Table 2.1 prints 2.7B; 32 (12 h^2 + 13 h) + (V + s) h = 2.65B
    assert set(expected) == set(MODELS)
    for name, billions in expected.items():
        assert fm.total_params(MODELS[name]) / 1e9 == pytest.approx(billions, rel=0.01), name
    assert get_model("seed002-48l").layers == 48


def test_choose_m_keeps_the_global_batch():
    """Source document 002's example (48 layers, p=4, 64 sequences): b = 64 / m."""
    search = choose_m(get_model("seed002-48l"), Layout(tp=8, pp=4), 64, 0.2)
    ms = [c["m"] for c in search["candidates"]]
    assert ms == [1, 2, 4, 8, 16, 32, 64]
    assert all(c["m"] * c["micro_batch_size"] == 64 for c in search["candidates"])
    chosen = search["chosen"]
    assert chosen["layout"]["m"] == 16 and chosen["fits"] and chosen["bubble_fraction"] <= 0.2
    smaller = [c for c in search["candidates"] if c["m"] < 16]
    assert all(not c["fits"] or c["bubble_fraction"] > 0.2 for c in smaller)
    assert choose_m(get_model("seed002-48l"), Layout(tp=1, pp=4), 64, 0.2)["chosen"] is None


@pytest.mark.parametrize("kwargs,needle", [
    ({"tp": 7}, "tp must divide heads=96"), ({"pp": 200}, "at least as many layers"),
    ({"recompute": "half"}, "recompute must be one of none, selective, full"),
    ({"schedule": "interleaved", "v": 2, "pp": 8, "m": 12}, "m must be a multiple of p=8"),
    ({"v": 2}, "v=2 needs a chunked schedule"), ({"schedule": "pipedream"}, "schedule must be one of")])
def test_bad_layouts_name_the_parameter(kwargs, needle):
    with pytest.raises(UsageError, match=needle):
        plan(get_model("gpt3-175b"), Layout(**kwargs))


def test_cli_json_for_every_named_model(capsys):
    fields = {"params_per_gpu", "param_bytes_per_gpu", "grad_bytes_per_gpu", "optimizer_bytes_per_gpu",
              "activation_bytes_per_gpu", "bubble_fraction", "fits", "model", "layout"}
    for name in MODELS:
        assert main(["plan", "--model", name, "--tp", "8", "-p", "4", "-m", "8", "--recompute",
                     "selective", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert fields <= set(out) and out["model"]["name"] == name and out["layout"]["sequence_parallel"]
    assert main(["plan", "--layers", "48", "--hidden", "8192", "--heads", "64", "--tp", "8",
                 "--no-sequence-parallel", "--gpu-memory-gb", "40"]) == 0
    text = capsys.readouterr().out
    assert "sequence-parallel=off" in text and "in 40 GiB" in text
    assert main(["plan", "--model", "seed002-48l", "--tp", "8", "-p", "4", "--choose-m",
                 "--global-batch", "64", "--max-bubble", "0.2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chosen"]["layout"]["m"] == 16


@pytest.mark.parametrize("argv,needle", [
    (["--model", "gpt4"], "model must be one of"), (["--layers", "4"], "give --model NAME or all of"),
    (["--model", "llama2-7b", "--tp", "3"], "tp must divide heads=32"),
    (["--model", "llama2-7b", "--choose-m"], "--choose-m needs --global-batch")])
def test_cli_bad_input_is_one_line_exit_2(capsys, argv, needle):
    assert main(["plan", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


@pytest.mark.ranks
def test_planner_imports_without_torch():
    code = ("import sys, ppedu.planner.plan, ppedu.planner.models\n"
            "sys.exit(1 if any(m == 'torch' or m.startswith('torch.') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_plan_panel_and_figures():
    from ppedu.notebook.widgets.plan import plan_panel, run_plan
    figs, text = run_plan({"model": "seed002-48l", "tp": 8, "p": 4, "m": 16, "micro_batch_size": 4,
                           "recompute": "none", "max_bubble": 0.2})
    bars, tradeoff = figs
    assert [t.name for t in bars.data][:4] == ["weights (fp16)", "gradients (fp16)",
                                              "Adam state (fp32 master, m, v)", "activations"]
    assert bars.layout.barmode == "stack" and "GiB" in bars.layout.yaxis.title.text
    assert list(bars.data[3].x) == ["stage 0", "stage 1", "stage 2", "stage 3"]
    assert bars.data[3].y[0] > bars.data[3].y[3]                 # the first stage holds the most
    assert "bubble" in bars.layout.title.text and "m=16" in text and "fits" in text
    assert tradeoff.layout.title.text and "micro-batches m" in tradeoff.layout.xaxis.title.text
    assert run_plan({"model": "gpt4"})[1].startswith("⚠") and run_plan({"tp": 7})[0] == []
    panel = plan_panel()
    panel.run()
    assert "GiB" in panel.summary.value and "⚠" not in panel.summary.value
    assert GIB == 2 ** 30
