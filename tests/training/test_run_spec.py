"""One RunSpec under every driver: the training run and the lab build on it, so the batch recipe,
the model and the checks are written once (no ranks started here)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ppedu.errors import UsageError
from ppedu.lab.stage import LabSpec, Stage as LabStage
from ppedu.model.corpus import get_batch
from ppedu.training.config import TrainConfig
from ppedu.training.stage import Stage


def test_the_lab_and_training_share_the_batch_and_the_model():
    shape = dict(p=2, m=4, workload="model", micro_batch_size=2, seq_len=16, n_embd=32, n_head=2, seed=3)
    train, lab = TrainConfig(**shape), LabSpec(**shape)
    assert train.model_config() == lab.model_config()
    assert train.stage_boundaries() == lab.stage_boundaries()
    for a, b in zip(train.batch(), lab.batch()):
        assert all(torch.equal(x, y) for x, y in zip(a, b)) and len(a) == 4
    x, _ = get_batch(4 * 2, 16, seed=3)          # the recipe: one batch of m x micro_batch_size, chunked
    assert torch.equal(torch.cat(train.batch()[0]), x)
    assert torch.equal(train.full_batch()[0], x)


def test_each_entry_point_keeps_its_limits_beside_its_reason():
    assert TrainConfig.LIMITS["m"] == (1, 256) and LabSpec.LIMITS["m"] == (1, 64)
    with pytest.raises(UsageError, match=r"m must be an integer in 1\.\.64"):
        LabSpec(m=65)
    assert TrainConfig(m=65).m == 65
    with pytest.raises(UsageError, match="deadlock_s"):
        LabSpec(deadlock_s=0.0)


def test_a_built_spec_is_not_changed_by_assignment():
    cfg = TrainConfig(m=8)
    cfg.m = 4
    with pytest.raises(UsageError, match="dataclasses.replace"):
        cfg.built_schedule
    assert dataclasses.replace(cfg, m=4).built_schedule.m == 4


def test_the_labs_stage_is_the_stage_with_checks():
    assert issubclass(LabStage, Stage) and LabStage.__name__ == "Stage"
    shared = ("recv_forward", "send_forward", "forward", "recv_backward", "send_backward", "backward")
    assert all(callable(getattr(Stage, name)) for name in shared + ("weight", "post_receives", "finish"))
