"""The single-process ground truth the lab grades against: the whole tiny GPT on one process.

Gradients are kept per micro-batch (not only their mean) so that ``ppedu.lab.diagnose`` can say
*which* micro-batch a wrong pipeline lost, doubled or mixed up.
"""

from __future__ import annotations

from dataclasses import astuple
from functools import lru_cache

import torch

from ppedu.lab.workloads import LabSpec


def per_microbatch_gradients(spec: LabSpec) -> list[dict[str, torch.Tensor]]:
    """Gradient of each micro-batch's loss (unscaled) for every parameter: one dict per micro-batch."""
    return _per_microbatch(astuple(spec))


@lru_cache(maxsize=8)
def _per_microbatch(key: tuple) -> list[dict[str, torch.Tensor]]:
    from ppedu.model.gpt import GPT
    spec = LabSpec(*key)
    model = GPT(spec.model_config())
    inputs, targets = spec.batch()
    out = []
    for x, y in zip(inputs, targets):
        model.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        out.append({n: q.grad.detach().clone() for n, q in model.named_parameters() if q.grad is not None})
    return out


def expected_parameter_names(spec: LabSpec) -> list[list[str]]:
    """Names of the parameters each rank owns (chunk c of rank r is virtual stage c * p + r)."""
    from ppedu.model.gpt import split_into_stages
    modules = split_into_stages(spec.model_config(), spec.boundaries())
    return [[n for s, mod in enumerate(modules) if s % spec.p == rank for n, _ in mod.named_parameters()]
            for rank in range(spec.p)]
