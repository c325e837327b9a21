"""The readable loops of ppedu.training.loops run each schedule's exact order, on real ranks, with
the single-process model's gradients (they are also the reference solutions of chapter 6's lab)."""

from __future__ import annotations

import warnings

import pytest

from conftest import _warm_cluster
from ppedu.lab import grade
from ppedu.runtime.cluster import Cluster
from ppedu.schedules.actions import Action
from ppedu.schedules import build_schedule
from ppedu.training.loops import LOOPS

SCHEDULE_OF = {"afab": "gpipe", "1f1b": "1f1b", "interleaved": "interleaved"}


class RecordingStage:
    """The stage API without ranks: records forward/backward calls (orders do not depend on timing)."""

    def __init__(self, rank: int, p: int, m: int, v: int = 1):
        self.rank, self.world_size, self.num_microbatches, self.num_chunks = rank, p, m, v
        self.is_first, self.is_last = rank == 0, rank == p - 1
        self.order: list[Action] = []

    def recv_forward(self, mb, chunk=0):
        return "x"

    def recv_backward(self, mb, chunk=0):
        return "g"

    def send_forward(self, mb, y, chunk=0):
        assert y == ("y", mb, chunk), f"send_forward({mb}) sent {y}"

    def send_backward(self, mb, g, chunk=0):
        assert g == ("g_in", mb, chunk), f"send_backward({mb}) sent {g}"

    def forward(self, mb, x, chunk=0):
        self.order.append(Action("F", mb, chunk))
        return ("y", mb, chunk)

    def backward(self, mb, g, chunk=0):
        self.order.append(Action("B", mb, chunk))
        return ("g_in", mb, chunk)


@pytest.mark.parametrize("name", ["afab", "1f1b"])
@pytest.mark.parametrize("p", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("m", [1, 2, 3, 4, 8])
def test_loop_order_is_the_schedule(name: str, p: int, m: int) -> None:
    for rank in range(p):
        stage = RecordingStage(rank, p, m)
        LOOPS[name](stage)
        assert stage.order == build_schedule(SCHEDULE_OF[name], p, m).ranks[rank], (name, p, m, rank)


@pytest.mark.parametrize("p, m, v", [(2, 2, 2), (2, 4, 2), (3, 6, 2), (4, 8, 2), (2, 4, 3), (4, 4, 4)])
def test_interleaved_loop_order_is_the_schedule(p: int, m: int, v: int) -> None:
    for rank in range(p):
        stage = RecordingStage(rank, p, m, v)
        LOOPS["interleaved"](stage)
        assert stage.order == build_schedule("interleaved", p, m, v).ranks[rank]


@pytest.fixture(scope="module")
def clusters():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 3 and 4 ranks oversubscribe 2 cores: expected here
        three = Cluster(3)
    try:
        yield {2: _warm_cluster(2), 3: three, 4: _warm_cluster(4)}
    finally:
        three.close()


@pytest.mark.ranks
@pytest.mark.parametrize("p", [2, 3, 4])
@pytest.mark.parametrize("name", ["afab", "1f1b", "interleaved"])
def test_loops_on_real_ranks_match_order_and_gradients(name: str, p: int, clusters) -> None:
    m = p if name == "interleaved" else 4
    # p = 2 is graded on 4 ranks too (middle ranks): a 4-rank cluster serves both passes
    verdict = grade(LOOPS[name], name, p=p, m=m, workload="model", cluster=clusters[4 if p == 2 else p])
    assert verdict.ok, verdict.message
    result = verdict.result
    expected = build_schedule(SCHEDULE_OF[name], p, m, result.spec.v).ranks
    assert result.orders == expected
    assert result.grad_max_abs_diff is not None and result.grad_max_abs_diff <= 1e-5
    assert result.peak_activations == result.theory_peak_activations
