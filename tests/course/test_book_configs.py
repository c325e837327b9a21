"""Every framework configuration the course shows as working is planned with ``ppedu plan`` (issue 21).

``course/source_errors.md`` "Working configurations" shows one job four ways (Megatron-LM,
DeepSpeed, torch.distributed.pipelining, torchtitan). This test reads the text — the fenced blocks
and the sentences around them — and turns each configuration into ``ppedu plan`` arguments through
the declared mappings below (framework flag -> planner option, with the framework default when the
text does not set it), so a configuration changed in the text changes the plan. Each must fit the
GPU the text names. Where one does not fit, the configuration in the text is what changes.

Not mirrored: SGLang / vLLM serving launches (``--tensor-parallel-size 2 --pipeline-parallel-size 2``
in notebook 01 is seed 001's, with no model or GPU named, and ``ppedu plan`` plans training memory).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ppedu.instructor.book.check import run_cli as cli

ROOT = Path(__file__).resolve().parents[2]
PAGE = "course/source_errors.md"
FRAMEWORKS = ("Megatron-LM", "DeepSpeed", "torch.distributed.pipelining", "torchtitan")

# Megatron-LM flag -> what it sets (pretrain_gpt.py's defaults: no SP, no recomputation, fp32).
MEGATRON = {
    "--tensor-model-parallel-size": "tp", "--pipeline-model-parallel-size": "pp",
    "--num-layers": "layers", "--hidden-size": "hidden", "--num-attention-heads": "heads",
    "--seq-length": "seq", "--micro-batch-size": "b", "--global-batch-size": "B",
    "--recompute-granularity": "recompute", "--nproc-per-node": "nproc", "--nnodes": "nnodes",
}
MEGATRON_SWITCHES = {
    "--sequence-parallel": {"sp": True},
    "--recompute-activations": {"recompute": "selective"},      # = --recompute-granularity selective
    "--bf16": {"bytes_per_param": 18},   # bf16 sets accumulate_allreduce_grads_in_fp32: fp32 grads
    "--fp16": {"bytes_per_param": 16},
}
# torch.distributed.pipelining / torchtitan schedule names -> ppedu's
SCHEDULES = {"Schedule1F1B": "1f1b", "ScheduleGPipe": "gpipe", "ScheduleInterleaved1F1B": "interleaved",
             "1F1B": "1f1b", "GPipe": "gpipe", "Interleaved1F1B": "interleaved", "ZBVZeroBubble": "zbv",
             "InterleavedZeroBubble": "interleaved-zb", "LoopedBFS": "looped-bfs"}


def sections() -> dict[str, str]:
    """The "Working configurations" section, cut at each framework's bold name."""
    text = (ROOT / PAGE).read_text(encoding="utf-8")
    body = text.split("## Working configurations", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^\*\*(" + "|".join(map(re.escape, FRAMEWORKS)) + r")\*\*", body, flags=re.M)
    out = {"job": parts[0]}
    out.update(zip(parts[1::2], parts[2::2]))
    assert set(out) == {"job", *FRAMEWORKS}, f"{PAGE}: sections found {sorted(out)}"
    return out


def blocks(section: str, lang: str) -> list[str]:
    """Fenced blocks of ``lang`` inside one section's text."""
    return [m.group(3) for m in re.finditer(r"^(`{3,})(\w*)\n(.*?)^\1", section, re.S | re.M)
            if m.group(2) == lang]


def one(pattern: str, text: str, what: str) -> str:
    found = re.search(pattern, " ".join(text.split()))
    assert found, f"{PAGE}: cannot read {what} ({pattern!r}); update the mapping with the text"
    return found.group(1)


def job() -> dict:
    """The shared job: the model's shape and the GPU (from the section's first paragraph)."""
    text = sections()["job"]
    shape = re.search(r"\$L = (\d+)\$, \$h = (\d+)\$, (\d+) heads, \$s = (\d+)\$", " ".join(text.split()))
    assert shape, "the job paragraph must give L, h, heads and s"
    layers, hidden, heads, seq = map(int, shape.groups())
    return {"layers": layers, "hidden": hidden, "heads": heads, "seq": seq,
            "gpu_gb": float(one(r"(\d+) GB GPUs", text, "the GPU memory"))}


def megatron(extra: str = "") -> dict:
    """Megatron-LM's bash block (continuations joined) -> settings."""
    (script,) = blocks(sections()["Megatron-LM"], "bash")
    words = re.sub(r"\\\n", " ", script + " " + extra).split()
    cfg = {"sp": False, "recompute": "none", "bytes_per_param": 16, "schedule": "1f1b", "v": 1}
    for i, word in enumerate(words):
        if word in MEGATRON:
            value = words[i + 1]
            cfg[MEGATRON[word]] = value if MEGATRON[word] == "recompute" else int(value)
        cfg.update(MEGATRON_SWITCHES.get(word, {}))
        if word == "--num-layers-per-virtual-pipeline-stage":
            cfg["schedule"] = "interleaved"
            cfg["v_layers"] = int(words[i + 1])
    if "v_layers" in cfg:
        cfg["v"] = cfg["layers"] // (cfg["pp"] * cfg.pop("v_layers"))
    cfg["dp"] = cfg["nproc"] * cfg["nnodes"] // (cfg["tp"] * cfg["pp"])
    cfg["m"] = cfg["B"] // (cfg["b"] * cfg["dp"])
    return cfg


def megatron_interleaved() -> dict:
    """The sentence after the block: 'Interleaved 1F1B adds `--num-layers-per-virtual-pipeline-stage N`'."""
    n = one(r"Interleaved 1F1B adds `--num-layers-per-virtual-pipeline-stage (\d+)`",
            sections()["Megatron-LM"], "the interleaved variant")
    return megatron(f"--num-layers-per-virtual-pipeline-stage {n}")


def deepspeed() -> dict:
    """PipelineModule arguments, the topology sentence and ds_config.json -> settings."""
    text = sections()["DeepSpeed"]
    (code,), (config,) = blocks(text, "python"), blocks(text, "json")
    ds = json.loads(config)
    topo = re.search(r"PipeModelDataParallelTopology\(num_pp=(\d+), num_mp=(\d+), num_dp=(\d+)\)",
                     " ".join(text.split()))
    assert topo, "the DeepSpeed section must give the topology"
    pp, tp, dp = map(int, topo.groups())
    assert int(one(r"num_stages=(\d+)", code, "num_stages")) == pp, "num_stages and num_pp differ"
    interval = int(one(r"activation_checkpoint_interval=(\d+)", code, "activation_checkpoint_interval"))
    b, m = ds["train_micro_batch_size_per_gpu"], ds["gradient_accumulation_steps"]   # GAS is m
    assert ds["train_batch_size"] == b * m * dp, "train_batch_size = micro-batch x GAS x DP"
    layers = int(one(r"LayerSpec\(Block\) for _ in range\((\d+)\)", code, "the number of blocks"))
    assert layers == job()["layers"]
    return {"tp": tp, "pp": pp, "dp": dp, "b": b, "m": m, "schedule": "1f1b", "v": 1,
            "sp": False,                                          # PipelineModule has no SP
            "recompute": "full" if interval else "none",          # checkpoint every layer's input
            # bf16: BF16_Optimizer accumulates fp32 gradients (fp32_groups_gradients)
            "bytes_per_param": 18 if ds.get("bf16", {}).get("enabled") else 16}


def torch_pipelining() -> dict:
    """torchrun's process count, the schedule class, n_microbatches, autocast and B -> settings."""
    text = sections()["torch.distributed.pipelining"]
    (code,) = blocks(text, "python")
    shape = re.search(r"(\d+) layers, \$h = (\d+)\$, (\d+) heads", " ".join(text.split()))
    assert shape, "the torch.distributed.pipelining section must name its model's shape"
    layers, hidden, heads = map(int, shape.groups())
    m = int(one(r"n_microbatches=(\d+)", code, "n_microbatches"))
    batch = int(one(r"B = (\d+) sequences", code, "the batch B"))
    return {"tp": 1, "pp": int(one(r"torchrun --nproc-per-node (\d+)", text, "the process count")),
            "dp": 1, "b": batch // m, "m": m, "v": 1, "sp": False, "recompute": "none",
            "schedule": SCHEDULES[one(r"from torch.distributed.pipelining import \w+, (\w+)", code, "schedule")],
            "bytes_per_param": 16,                       # fp32 weights 4 + grads 4 + AdamW 8
            "activation_bytes": 2 if "dtype=torch.bfloat16" in code else 4,   # autocast or fp32
            "shape": (layers, hidden, heads, int(one(r"of (\d+) tokens", code, "s")))}


def torchtitan() -> dict:
    """job.toml and the torchrun line -> settings (TP shards norms along the sequence: SP on; no
    FSDP (dp = 1) means no mixed precision: fp32 activations, as its maybe_enable_amp does)."""
    text = sections()["torchtitan"]
    (toml,) = blocks(text, "toml")
    cfg = simple_toml(toml)
    par, b_local = cfg["parallelism"], cfg["training"]["local_batch_size"]
    nodes, nproc = (int(x) for x in re.search(r"torchrun --nnodes (\d+) --nproc-per-node (\d+)", text).groups())
    tp, pp = par.get("tensor_parallel_degree", 1), par.get("pipeline_parallel_degree", 1)
    dp = nodes * nproc // (tp * pp)
    b = par.get("pipeline_parallel_microbatch_size", 1)
    return {"tp": tp, "pp": pp, "dp": dp, "b": b, "m": b_local // b, "v": 1,
            "schedule": SCHEDULES[par.get("pipeline_parallel_schedule", "1F1B")], "sp": tp > 1,
            "recompute": cfg.get("activation_checkpoint", {}).get("mode", "none"),
            "bytes_per_param": 16, "activation_bytes": 4 if dp == 1 else 2}


def simple_toml(text: str) -> dict:
    """``[section]`` and ``key = 1`` / ``key = "text"`` lines, ``#`` comments (tomllib is 3.11+)."""
    out, section = {}, None
    for line in text.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line.startswith("["):
            section = out.setdefault(line.strip("[]"), {})
        elif "=" in line:
            key, value = (x.strip() for x in line.split("=", 1))
            section[key] = value.strip('"') if value.startswith('"') else int(value)
    return out


def plan_argv(cfg: dict) -> str:
    """The `ppedu plan` call mirroring one configuration."""
    spec = job()
    layers, hidden, heads, seq = cfg.get("shape") or (cfg.get("layers", spec["layers"]), cfg.get(
        "hidden", spec["hidden"]), cfg.get("heads", spec["heads"]), cfg.get("seq", spec["seq"]))
    argv = (f"plan --layers {layers} --hidden {hidden} --heads {heads} --seq {seq} "
            f"--tp {cfg['tp']} -p {cfg['pp']} --dp {cfg['dp']} -m {cfg['m']} "
            f"--micro-batch-size {cfg['b']} --schedule {cfg['schedule']} --v {cfg['v']} "
            f"--recompute {cfg['recompute']} --bytes-per-param {cfg['bytes_per_param']} "
            f"--activation-bytes {cfg.get('activation_bytes', 2)} --gpu-memory-gb {spec['gpu_gb']:g} --json")
    return argv + ("" if cfg["sp"] or cfg["tp"] == 1 else " --no-sequence-parallel")


def planned(cfg: dict) -> dict:
    rc, out = cli(plan_argv(cfg))
    assert rc == 0, f"ppedu {plan_argv(cfg)} exited {rc}"
    return json.loads(out)


CONFIGS = {"Megatron-LM": megatron, "Megatron-LM interleaved": megatron_interleaved,
           "DeepSpeed": deepspeed, "torch.distributed.pipelining": torch_pipelining,
           "torchtitan": torchtitan}


@pytest.mark.parametrize("name", CONFIGS)
def test_working_configuration_fits_the_gpu_the_text_names(name: str) -> None:
    result = planned(CONFIGS[name]())
    assert result["fits"], f"{name}: ppedu {plan_argv(CONFIGS[name]())}\n{result['reason']}"


def test_the_configurations_are_one_job() -> None:
    """Megatron, DeepSpeed and torchtitan run the job paragraph's sizes (torch's hand-built one is
    smaller, as its text says): same tp, pp, dp, b and m, and the job's GPU count."""
    mega, ds, titan = megatron(), deepspeed(), torchtitan()
    keys = ("tp", "pp", "dp", "b", "m")
    assert [mega[k] for k in keys] == [ds[k] for k in keys] == [titan[k] for k in keys]
    assert (mega["layers"], mega["hidden"], mega["heads"], mega["seq"]) == tuple(
        job()[k] for k in ("layers", "hidden", "heads", "seq"))
    gpus = int(one(r"\((\d+) GPUs\)", sections()["job"], "the GPU count"))
    assert mega["tp"] * mega["pp"] * mega["dp"] == gpus


def test_a_changed_configuration_changes_the_plan() -> None:
    """The mapping reads the text: the page's earlier Megatron job (PP = 4 on 4 servers, B = 32,
    no SP, no recomputation) does not fit, and each flag moves the plan."""
    old = {**megatron("--pipeline-model-parallel-size 4 --nnodes 4 --global-batch-size 32"),
           "sp": False, "recompute": "none"}
    assert (old["pp"], old["m"], old["dp"]) == (4, 32, 1)
    assert not planned(old)["fits"]
    now = planned(megatron())
    assert planned({**megatron(), "bytes_per_param": 16})["total_bytes_per_gpu"] < now["total_bytes_per_gpu"]
    assert planned({**megatron(), "sp": False})["activation_bytes_per_gpu"] > now["activation_bytes_per_gpu"]


@pytest.mark.parametrize("page", [PAGE, "course/zh/source_errors.md"])
def test_the_arithmetic_the_text_writes_out_is_the_configurations(page: str) -> None:
    """The job's $m = B/(b d) = 64$ and the interleaved variant's $v = L/(p n) = 2$, written out on
    the page (English and Chinese), are what the configurations give."""
    text = " ".join((ROOT / page).read_text(encoding="utf-8").split())
    m = re.search(r"\$m = B/\(b\\cdot d\) = (\d+)\$", text)
    v = re.search(r"\$v = (\d+) / \((\d+) \\cdot (\d+)\) = (\d+)\$", text)
    assert m and v, f"{page}: the written-out m or v is gone; update this test with the text"
    mega, inter = megatron(), megatron_interleaved()
    assert int(m.group(1)) == mega["m"], f"{page}: m = {m.group(1)}, the configuration gives {mega['m']}"
    layers_per_chunk = int(one(r"--num-layers-per-virtual-pipeline-stage (\d+)", sections()["Megatron-LM"], "n"))
    assert [int(g) for g in v.groups()] == [inter["layers"], inter["pp"], layers_per_chunk, inter["v"]], \
        f"{page}: {v.group(0)} is not the interleaved configuration's v"
