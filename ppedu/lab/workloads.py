"""What ``stage.forward`` and ``stage.backward`` compute in the lab: two small classes.

``ModelWork`` runs this rank's layers of the tiny GPT for real (autograd; the gradients are graded
against a single-process model). ``TimedWork`` waits a fixed t_f / t_b like a GPU kernel (the host
idles) and passes zero tensors of the activation's shape, so bubbles can be measured on 2 cores.
Both work per *virtual stage* ``chunk * p + rank`` (Megatron numbering), so interleaving is free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

WORKLOADS = ("model", "timed")


@dataclass
class LabSpec:
    """One lab run, built on the driver and shipped to every rank (everything pickles)."""
    p: int = 2
    m: int = 4
    v: int = 1
    workload: str = "model"
    tf_ms: float = 10.0           # timed workload: forward of a rank's whole share of the model
    tb_ms: float = 20.0           # and its backward (a chunk costs 1/v of it)
    deadlock_s: float = 6.0       # a receive (or a send nobody takes) waiting longer is a deadlock
    micro_batch_size: int = 2
    seq_len: int = 16
    n_embd: int = 32
    n_head: int = 2
    seed: int = 0

    @property
    def num_stages(self) -> int:
        return self.p * self.v

    def activation_shape(self) -> tuple[int, int, int]:
        return (self.micro_batch_size, self.seq_len, self.n_embd)

    def model_config(self):
        from ppedu.model.gpt import GPTConfig
        return GPTConfig(block_size=max(64, self.seq_len), n_layer=max(4, self.num_stages),
                         n_head=self.n_head, n_embd=self.n_embd, seed=self.seed)

    def boundaries(self) -> list[tuple[int, int]]:
        from ppedu.model.partition import partition
        return [tuple(b) for b in partition(self.model_config(), self.num_stages, "uniform").boundaries]

    def batch(self) -> tuple[tuple, tuple]:
        """(inputs, targets) of the m micro-batches: the same on every rank and in the reference."""
        from ppedu.model.corpus import get_batch
        x, y = get_batch(self.m * self.micro_batch_size, self.seq_len, seed=self.seed)
        return x.chunk(self.m), y.chunk(self.m)


class ModelWork:
    """The tiny GPT's layers of the virtual stages this rank owns."""

    def __init__(self, spec: LabSpec, rank: int):
        from ppedu.model.gpt import split_into_stages
        self.spec = spec
        modules = split_into_stages(spec.model_config(), spec.boundaries())
        self.modules = {s: modules[s] for s in range(spec.num_stages) if s % spec.p == rank}
        self.inputs, self.targets = spec.batch()

    def forward(self, s: int, mb: int, x: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(output with its autograd graph, the input whose .grad backward fills)."""
        last = s == self.spec.num_stages - 1
        inp = self.inputs[mb] if s == 0 else x.detach().requires_grad_(True)
        out = self.modules[s](inp, self.targets[mb] if last else None)
        return out, (None if s == 0 else inp)

    def backward(self, s: int, out: torch.Tensor, inp: torch.Tensor | None,
                 grad: torch.Tensor | None) -> torch.Tensor | None:
        if grad is None:  # the last stage: d(loss / m) / d(loss) = 1/m, gradient accumulation's mean
            grad = torch.tensor(1.0 / self.spec.m)
        torch.autograd.backward(out, grad)
        return None if inp is None else inp.grad

    def gradients(self) -> dict[str, torch.Tensor]:
        return {name: q.grad.detach().clone() for mod in self.modules.values()
                for name, q in mod.named_parameters() if q.grad is not None}


class TimedWork:
    """Fixed waits instead of compute; zero tensors of the activation's shape travel."""

    def __init__(self, spec: LabSpec, rank: int):
        self.spec = spec

    def forward(self, s: int, mb: int, x: torch.Tensor | None) -> tuple[torch.Tensor, None]:
        time.sleep(self.spec.tf_ms / 1e3 / self.spec.v)
        if s == self.spec.num_stages - 1:
            return torch.zeros(()), None  # a "loss"
        return torch.zeros(self.spec.activation_shape()), None

    def backward(self, s: int, out: torch.Tensor, inp, grad) -> torch.Tensor | None:
        time.sleep(self.spec.tb_ms / 1e3 / self.spec.v)
        return None if s == 0 else torch.zeros(self.spec.activation_shape())

    def gradients(self) -> dict:
        return {}


def make_work(spec: LabSpec, rank: int):
    return ModelWork(spec, rank) if spec.workload == "model" else TimedWork(spec, rank)
