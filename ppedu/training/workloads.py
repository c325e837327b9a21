"""What a stage computes, one of ``WORKLOADS`` (``ppedu.model.workloads``): the tiny GPT for real
(``ModelWork``), or timed waits (``TimedWork``). ``Stage`` (``ppedu.training.stage``) asks both
the same questions, so no driver ever asks which one runs:

    first_input(mb)                       the micro-batch's input on the first stage
    forward(stage, mb, x)   -> (out, inp, bytes held: 0 when the step's meter measures instead)
    backward(stage, held, grad, split)    -> the gradient for the previous stage (None on stage 0)
    weight(stage, held)                   the weight-gradient half, when backward was split

``stage`` is a virtual stage, ``held`` what its forward kept (``Held``). The last stage's ``out``
is the micro-batch's loss; the Stage starts its backward from 1/m (gradient accumulation's mean).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ppedu.model.gpt import set_recompute, split_into_stages


@dataclass(slots=True)
class Held:
    """What one (chunk, micro-batch) keeps between its forward and its backward (and W)."""
    inp: torch.Tensor | None     # the input whose .grad backward fills (None on stage 0)
    out: torch.Tensor            # the output with its autograd graph (the loss on the last stage)
    nbytes: int
    grad: torch.Tensor | None = None   # the output's gradient, kept for W after a split backward


class TimedWork:
    """Waits t_F / t_B / t_W like a GPU kernel (the host idles) while real activation tensors
    still travel, so bubbles are measurable on 2 CPU cores."""

    def __init__(self, spec, rank: int, device):
        self.spec, self.chunks, self.device = spec, spec.v, device
        self.last = spec.num_stages - 1

    def _wait(self, ms: float, stage: int) -> None:
        scale = self.spec.stage_scale[stage] if self.spec.stage_scale else 1.0   # unbalanced (v = 1)
        time.sleep(ms * scale / 1e3 / self.chunks)  # a chunk is 1/v of the rank's share of the model

    def first_input(self, mb: int) -> torch.Tensor:
        return torch.zeros(self.spec.activation_shape(), device=self.device)

    def forward(self, stage: int, mb: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        self._wait(self.spec.tf_ms, stage)
        out = torch.zeros((), device=self.device) if stage == self.last else x.clone()  # a "loss"
        return out, x, x.numel() * x.element_size()

    def backward(self, stage: int, held: Held, grad, split: bool) -> torch.Tensor | None:
        self._wait(self.spec.tb_ms if split else self.spec.tb_ms + self.spec.tw_ms, stage)
        return torch.zeros_like(held.inp) if stage > 0 else None

    def weight(self, stage: int, held: Held) -> None:
        self._wait(self.spec.tw_ms, stage)

    def parameters(self) -> list:
        return []

    def gradients(self) -> dict:
        return {}


class ModelWork:
    """The tiny GPT's modules of the virtual stages this rank runs, with autograd."""

    def __init__(self, spec, rank: int, device):
        modules, placed = split_into_stages(spec.model_config(), spec.stage_boundaries()), spec.built_schedule
        self.modules = {s: set_recompute(modules[s], spec.recompute).to(device)
                        for s in range(spec.num_stages) if placed.place_of(s)[0] == rank}
        self.inputs, self.targets = spec.batch()
        self.last, self.device = spec.num_stages - 1, device

    def first_input(self, mb: int) -> torch.Tensor:
        return self.inputs[mb].to(self.device)

    def forward(self, stage: int, mb: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, int]:
        inp = x.detach().requires_grad_(True) if stage > 0 else x
        target = self.targets[mb].to(self.device) if stage == self.last else None
        out = self.modules[stage](inp, target)  # what autograd saves: the step's meter measures it
        return out, (inp if stage > 0 else None), 0

    def backward(self, stage: int, held: Held, grad, split: bool) -> torch.Tensor | None:
        if split:  # input gradient only; the weight gradient waits for W
            held.grad = grad
            if held.inp is None:
                return None
            (grad_in,) = torch.autograd.grad(held.out, held.inp, grad, retain_graph=True)
            return grad_in
        torch.autograd.backward(held.out, grad)
        return None if held.inp is None else held.inp.grad

    def weight(self, stage: int, held: Held) -> None:
        params = [q for q in self.modules[stage].parameters() if q.requires_grad]
        torch.autograd.backward(held.out, held.grad, inputs=params)

    def parameters(self) -> list:
        return [q for mod in self.modules.values() for q in mod.parameters()]

    def gradients(self) -> dict[str, torch.Tensor]:
        return {name: q.grad.detach().cpu().clone() for mod in self.modules.values()
                for name, q in mod.named_parameters() if q.grad is not None}


def make_work(spec, rank: int, device):
    """The workload ``spec.workload`` names, for ``rank``'s stages of ``spec.built_schedule``."""
    return (ModelWork if spec.workload == "model" else TimedWork)(spec, rank, device)
