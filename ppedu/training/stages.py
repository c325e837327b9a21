"""The two workloads a rank's stage can run: the tiny GPT for real, or timed waits.

Both answer the executor's three questions the same way, so its loop never asks which one runs:
    forward(stage, mb, inp)           -> (out, activation bytes it holds; 0 when measured instead)
    backward(stage, entry, grad, split) -> gradient for the previous stage (None on stage 0)
    weight(stage, entry)              -> the weight-gradient half, when backward was split
``entry`` is what the forward kept for backward: {"inp", "out"} (+ "grad" after a split B).
"""

from __future__ import annotations

import time

import torch


class TimedStage:
    """Waits t_F / t_B / t_W like a GPU kernel (the host idles) while real activation tensors
    still travel, so bubbles are measurable on 2 CPU cores."""

    def __init__(self, cfg, chunks: int):
        self.cfg, self.chunks = cfg, chunks

    def _wait(self, ms: float, stage: int) -> None:
        scale = self.cfg.stage_scale[stage] if self.cfg.stage_scale else 1.0   # unbalanced (v = 1)
        time.sleep(ms * scale / 1e3 / self.chunks)  # a chunk is 1/v of the rank's share of the model

    def first_input(self, mb: int, device) -> torch.Tensor:
        return torch.zeros(self.cfg.activation_shape(), device=device)

    def forward(self, stage: int, mb: int, inp: torch.Tensor) -> tuple[torch.Tensor, int]:
        self._wait(self.cfg.tf_ms, stage)
        return inp.clone(), inp.numel() * inp.element_size()

    def backward(self, stage: int, entry: dict, grad, split: bool):
        self._wait(self.cfg.tb_ms if split else self.cfg.tb_ms + self.cfg.tw_ms, stage)
        return entry["inp"] if stage > 0 else None

    def weight(self, stage: int, entry: dict) -> None:
        self._wait(self.cfg.tw_ms, stage)


class ModelStage:
    """The tiny GPT's stage modules with autograd; the last stage returns the loss."""

    def __init__(self, cfg, modules: dict, batch: tuple, last_stage: int):
        self.cfg, self.modules, self.batch, self.last_stage = cfg, modules, batch, last_stage
        self.loss = 0.0

    def first_input(self, mb: int, device) -> torch.Tensor:
        return self.batch[0][mb].to(device)

    def forward(self, stage: int, mb: int, inp: torch.Tensor) -> tuple[torch.Tensor, int]:
        if stage > 0:
            inp.requires_grad_(True)
        target = self.batch[1][mb].to(inp.device) if stage == self.last_stage else None
        out = self.modules[stage](inp, target)  # what autograd saves: the step's meter measures it
        if stage == self.last_stage:
            self.loss += float(out.detach()) / self.cfg.m
            out = out / self.cfg.m  # gradient accumulation: the step's loss is the mean
        return out, 0   # bytes are measured per step (ppedu.model.memory), not counted per F

    def backward(self, stage: int, entry: dict, grad, split: bool):
        if split:  # input gradient only; the weight gradient waits for W
            entry["grad"] = grad
            if stage == 0:
                return None
            (grad_in,) = torch.autograd.grad(entry["out"], entry["inp"], grad, retain_graph=True)
            return grad_in
        torch.autograd.backward(entry["out"], grad)
        return entry["inp"].grad if stage > 0 else None

    def weight(self, stage: int, entry: dict) -> None:
        params = [q for q in self.modules[stage].parameters() if q.requires_grad]
        torch.autograd.backward(entry["out"], entry.get("grad"), inputs=params)
