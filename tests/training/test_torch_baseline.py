"""The benchmark's reference: torch.distributed.pipelining on the same stages computes the same
gradients as our engine, and the paired timing job alternates the two engines ABBA."""

from __future__ import annotations

import pytest
import torch

from ppedu.training.config import TrainConfig
from ppedu.training.engine import train
from ppedu.training.torch_baseline import paired_steps_job, torch_step_job

pytestmark = pytest.mark.ranks


@pytest.mark.parametrize("schedule", ["gpipe", "1f1b"])
def test_torch_pipelining_gradients_equal_ours(cluster2, schedule):
    ours = train(TrainConfig(schedule, 2, 4, workload="model", steps=1, check_grads=True),
                 group=cluster2)
    theirs = cluster2.run(torch_step_job, ours.config, 1)
    grads = {n: g for r in theirs for n, g in r.grads.items()}
    assert set(grads) == set(ours.gradients)
    for name, g in grads.items():
        torch.testing.assert_close(ours.gradients[name], g, rtol=1e-5, atol=1e-6)


def test_paired_steps_alternate_ours_and_torch(cluster2):
    ours = train(TrainConfig("1f1b", 2, 4, workload="model", steps=1), group=cluster2)
    cluster2.run(torch_step_job, ours.config, 1)        # torch builds its pipeline
    pairs = cluster2.run(paired_steps_job, ours.config, 1, 4)
    for rank in pairs:
        assert len(rank) == 4
        for k, (mine, theirs) in enumerate(rank):
            ours_first = mine.t_end <= theirs.starts[0]
            torch_first = theirs.ends[0] <= mine.t0
            assert (ours_first, torch_first) == ((True, False) if k % 2 == 0 else (False, True))
            assert mine.t_end > mine.t0 and theirs.ends[0] > theirs.starts[0]
