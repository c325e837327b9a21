"""Schedules as data: every builder is valid, matches torch's executed order, rejects bad input."""

import pytest

from ppedu.errors import UsageError
from ppedu.schedules.actions import SCHEDULE_NAMES, Action, build_schedule
from ppedu.schedules.validator import validate


def _grid():
    for name in SCHEDULE_NAMES:
        for p in range(1, 9):
            for m in range(1, 33):
                for v in ([2, 3] if name == "interleaved" else [1]):
                    if name == "interleaved" and m % p:
                        continue
                    yield name, p, m, v


def test_every_builder_valid_on_grid():
    count = 0
    for name, p, m, v in _grid():
        verdict = validate(build_schedule(name, p, m, v))
        assert verdict.ok, (name, p, m, v, verdict.message)
        count += 1
    assert count > 1000


def test_actions_print_like_textbooks():
    assert str(Action("F", 3)) == "F3" and str(Action("B", 0)) == "B0"
    assert str(Action("W", 2, chunk=1)) == "W2c1"


def test_1f1b_warmup_and_order():
    s = build_schedule("1f1b", 4, 8)
    assert [str(a) for a in s.ranks[0][:5]] == ["F0", "F1", "F2", "F3", "B0"]
    assert [str(a) for a in s.ranks[3][:4]] == ["F0", "B0", "F1", "B1"]
    assert [str(a) for a in build_schedule("1f1b", 4, 2).ranks[0]] == ["F0", "F1", "B0", "B1"]


def test_naive_never_overlaps_micro_batches():
    s = build_schedule("naive", 3, 2)
    assert [str(a) for a in s.ranks[1]] == ["F0", "B0", "F1", "B1"]


def test_zb1_splits_backward_and_keeps_every_w_after_its_b():
    s = build_schedule("zb1", 4, 8)
    assert s.split_backward
    for actions in s.ranks:
        order = [str(a) for a in actions]
        for mb in range(8):
            assert order.index(f"B{mb}") < order.index(f"W{mb}")


def test_interleaved_uses_virtual_stages():
    s = build_schedule("interleaved", 2, 4, v=2)
    assert s.num_stages == 4 and s.stage_of(1, 1) == 3 and s.place_of(3) == (1, 1)
    assert {a.chunk for a in s.ranks[0]} == {0, 1}


@pytest.mark.parametrize("args, text", [
    (("interleaved", 4, 6, 2), "m must be a multiple of p for interleaved 1F1B (got m=6, p=4)"),
    (("interleaved", 4, 8, 1), "v must be an integer in 2..16"),
    (("1f1b", 0, 4, 1), "p must be an integer in 1..64 (got 0)"),
    (("1f1b", 4, 2000, 1), "m must be an integer in 1..1024 (got 2000)"),
    (("gpipe", 4, 4, 2), "v must be 1 for schedule gpipe"),
    (("pipedream", 4, 4, 1), "naive, gpipe, 1f1b, interleaved, zb1, forward-only"),
])
def test_bad_input_is_a_usage_error(args, text):
    with pytest.raises(UsageError, match=text.replace("(", r"\(").replace(")", r"\)")):
        build_schedule(*args)


# ---- cross-check with torch.distributed.pipelining ---------------------------------------------

class _RecordingStage:
    """Stand-in for PipelineStage: no tensors, no process group; records what the schedule runs."""

    def __init__(self, stage_index, num_stages):
        self.stage_index, self.num_stages = stage_index, num_stages
        self.is_first, self.is_last = stage_index == 0, stage_index == num_stages - 1
        self.calls = []

    def forward_one_chunk(self, mb, *args, **kwargs):
        self.calls.append(f"F{mb}")

    def backward_one_chunk(self, mb, **kwargs):
        self.calls.append(f"B{mb}")

    def __getattr__(self, name):  # p2p op builders return no ops; bookkeeping does nothing
        if name.startswith("get_") and name.endswith("_ops"):
            return lambda *a, **k: []
        return lambda *a, **k: None


def _torch_executed_order(schedule_class, p, m):
    """Per-rank order that torch's ``_step_microbatches`` (the code that really runs) executes.

    We do not read ``pipeline_order``: in torch 2.13 ``Schedule1F1B._get_pipeline_order``
    numbers the last rank's forwards 1..m instead of 0..m-1 (its IR, not what runs), so we
    record the forward/backward calls of the executing loop instead.
    """
    order = []
    for rank in range(p):
        stage = _RecordingStage(rank, p)
        sched = schedule_class(stage, m)
        for hook in ("_initialize_stage", "_maybe_compute_loss", "_maybe_get_loss",
                     "_update_losses"):
            setattr(sched, hook, lambda *a, **k: None)
        sched._step_microbatches(arg_mbs=[()] * m, kwarg_mbs=[{}] * m)
        order.append(stage.calls)
    return order


@pytest.mark.parametrize("p", [2, 4])
@pytest.mark.parametrize("m", [4, 8])
@pytest.mark.parametrize("ours, theirs", [("gpipe", "ScheduleGPipe"), ("1f1b", "Schedule1F1B")])
def test_same_order_as_torch_pipelining(p, m, ours, theirs):
    schedules = pytest.importorskip("torch.distributed.pipelining.schedules")
    torch_order = _torch_executed_order(getattr(schedules, theirs), p, m)
    our_order = [[str(a) for a in actions] for actions in build_schedule(ours, p, m).ranks]
    assert our_order == torch_order
