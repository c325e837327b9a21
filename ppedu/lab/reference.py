"""The single-process ground truth the lab grades against: the whole tiny GPT on one process.

Gradients are kept per micro-batch (not only their mean) so that ``ppedu.lab.diagnose`` can say
*which* micro-batch a wrong pipeline lost, doubled or mixed up.
"""

from __future__ import annotations

import torch

from ppedu.lab.stage import LabSpec
from ppedu.model.gpt import GPT, split_into_stages

_CACHE: dict[tuple, list] = {}   # (model config, batch recipe) -> gradients: grading repeats a spec


def per_microbatch_gradients(spec: LabSpec) -> list[dict[str, torch.Tensor]]:
    """Gradient of each micro-batch's loss (unscaled) for every parameter: one dict per micro-batch."""
    key = (repr(spec.model_config()), spec.m, spec.micro_batch_size, spec.seq_len, spec.seed)
    if key not in _CACHE:
        model, out = GPT(spec.model_config()), []
        for x, y in zip(*spec.batch()):   # the very micro-batches the ranks train on
            model.zero_grad(set_to_none=True)
            _, loss = model(x, y)
            loss.backward()
            out.append({n: q.grad.detach().clone() for n, q in model.named_parameters() if q.grad is not None})
        if len(_CACHE) >= 8:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = out
    return _CACHE[key]


def expected_parameter_names(spec: LabSpec) -> list[list[str]]:
    """Names of the parameters each rank owns (the stages ``spec``'s placement gives it)."""
    modules, placed = split_into_stages(spec.model_config(), spec.stage_boundaries()), spec.built_schedule
    return [[n for s, mod in enumerate(modules) if placed.place_of(s)[0] == rank for n, _ in mod.named_parameters()]
            for rank in range(spec.p)]
