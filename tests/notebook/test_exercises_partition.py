"""Notebook 02's exercise 4 (balance the stages of a heavy-head GPT) and the unbalanced timed
pipeline it measures (``TrainConfig.stage_scale``)."""

from __future__ import annotations

import pytest

from ppedu.errors import UsageError
from ppedu.notebook.checks.partition import (best_split, check_partition_choice, layer_costs,
                                                run_splits, stage_times)
from ppedu.training.engine import TrainConfig


def test_grader_accepts_the_best_split_and_explains_the_rest(capsys) -> None:
    costs = layer_costs()
    best = best_split(costs)
    assert max(stage_times(best, costs)) == min(max(stage_times(k, costs)) for k in range(1, 8))
    check_partition_choice(1, best, costs)
    assert capsys.readouterr().out.startswith("✓ GPU 1 is the bottleneck")
    with pytest.raises(AssertionError, match="GPU 1 is the slower stage"):
        check_partition_choice(0, best, costs)
    for wrong in (4, 6):  # a wrong try learns where its own split stands, not the best split
        with pytest.raises(AssertionError, match=f"With {wrong} \\+ {8 - wrong} blocks the stages cost") as why:
            check_partition_choice(1, wrong, costs)
        message = str(why.value)
        assert "GPU 1 is the slower one" in message and "another split makes the slowest stage faster" in message
        assert f"{best} blocks" not in message and f"{best} +" not in message
        assert f"{max(stage_times(best, costs)) / 1e6:.0f}" not in message
    with pytest.raises(AssertionError, match="whole number in 1..7"):
        check_partition_choice(1, 8, costs)


@pytest.mark.parametrize("kw,needle", [
    ({"stage_scale": [1.0, 2.0], "workload": "model"}, "stage_scale needs workload='timed'"),
    ({"stage_scale": [1.0]}, "stage_scale must hold p=2 factors (got 1)"),
    ({"stage_scale": [1.0, 0.0]}, "stage_scale must be a number in 0.01..100.0"),
])
def test_stage_scale_is_checked(kw, needle) -> None:
    with pytest.raises(UsageError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**{"schedule": "gpipe", "p": 2, "m": 2, **kw})


@pytest.mark.ranks
@pytest.mark.timeout(120)
def test_balanced_split_measures_faster_than_uniform(cluster2) -> None:
    """Timed stages in proportion to their FLOPs: the uniform split's head stage is the busier,
    the balanced split's step is shorter, and each measured step is close to the simulator's."""
    splits = {"uniform": 4, "balanced": best_split(layer_costs())}
    runs = run_splits(splits, cluster2)
    uniform, balanced = runs["uniform"], runs["balanced"]
    assert uniform.per_rank[1].busy_s > 1.5 * uniform.per_rank[0].busy_s
    assert balanced.timeline.makespan < uniform.timeline.makespan
    for r in runs.values():
        assert r.theory_bubble_fraction is None          # no closed form for unequal stages
        assert abs(r.timeline.makespan - r.simulated_makespan_s) / r.simulated_makespan_s < 0.15
