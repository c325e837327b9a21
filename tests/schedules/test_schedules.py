"""Schedules as data: every builder is valid, matches torch's executed order, rejects bad input."""

import pytest

from ppedu.errors import UsageError
from ppedu.schedules.actions import SCHEDULE_NAMES, Action
from ppedu.schedules import build_schedule
from ppedu.schedules.validator import validate


MULTI_CHUNK = ("interleaved", "looped-bfs", "interleaved-zb")


def _grid(ps=range(1, 9), ms=range(1, 33)):
    """Every (name, p, m, v) a builder accepts; rejected ones are the documented rules."""
    for name in SCHEDULE_NAMES:
        for p in ps:
            for m in ms:
                for v in ([2, 3] if name in MULTI_CHUNK else [1]):
                    try:
                        yield build_schedule(name, p, m, v)
                    except UsageError as error:  # torch's rounds rule, DualPipeV's m >= 2p
                        assert "rounds rule" in str(error) or "dualpipev" in str(error), error


def test_every_builder_valid_on_grid():
    count = 0
    for schedule in _grid():
        verdict = validate(schedule)
        assert verdict.ok, (schedule.name, schedule.p, schedule.m, schedule.v, verdict.message)
        count += 1
    assert count > 3000


def test_placement_loop_and_v():
    loop = build_schedule("interleaved", 4, 8, 2)
    assert [loop.stage_of(1, c) for c in (0, 1)] == [1, 5] and loop.place_of(5) == (1, 1)
    vee = build_schedule("zbv", 4, 8)
    assert vee.v == 2 and [vee.stage_of(1, c) for c in (0, 1)] == [1, 6]
    assert [vee.place_of(s) for s in range(8)] == [(0, 0), (1, 0), (2, 0), (3, 0),
                                                   (3, 1), (2, 1), (1, 1), (0, 1)]
    # a V turns on the last rank: stage 3 -> 4 stays on GPU3, stage 7 (the loss) is on GPU0
    assert vee.neighbours(3, 0) == (2, 3) and vee.neighbours(0, 1) == (1, None)
    assert loop.neighbours(3, 0) == (2, 0) and loop.neighbours(0, 0) == (None, 1)


def test_labels_parse_back_in_both_bases():
    for schedule in (build_schedule("dualpipev", 2, 4), build_schedule("zb1", 3, 4)):
        for action in (a for row in schedule.ranks for a in row):
            for base in (0, 1):
                assert Action.parse(action.label(base), base) == action
    assert Action("F", 0).label(base=1) == "F1" and Action.parse("B_1", base=1) == Action("B", 0)
    pair = Action.parse("F4c1+B0")
    assert pair.kind == "O" and [str(u) for u in pair.units] == ["F4c1", "B0"]
    with pytest.raises(UsageError, match="action must look like"):
        Action.parse("X7")


def test_failure_report_marks_the_action():
    text = build_schedule("1f1b", 2, 4).where_it_failed(1, 2)
    assert "GPU1 failed at action 2 of 8" in text
    assert [line for line in text.splitlines() if "<-- here" in line] == ["     2  F1   <-- here"]


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


def test_dualpipev_records_overlapped_pairs_and_splits_some_backwards():
    s = build_schedule("dualpipev", 4, 8)
    pairs = [a for row in s.ranks for a in row if a.kind == "O"]
    assert pairs and all([u.kind for u in a.units] == ["F", "B"] for a in pairs)
    assert all(len(s.weight_split(r)) < 2 * 8 for r in range(4))  # some B's are whole
    assert any(s.weight_split(r) for r in range(4))


@pytest.mark.parametrize("args, text", [
    (("interleaved", 4, 9, 2), "m must be a multiple of max(1, m // p) = 2 for interleaved "
                               "(torch's rounds rule; got m=9, p=4)"),
    (("interleaved", 4, 8, 1), "v must be an integer in 2..16 for interleaved (got 1)"),
    (("zbv", 4, 8, 3), "v must be 2 for schedule zbv (got 3)"),
    (("dualpipev", 4, 7, 2), "m must be an integer in 8..1024 for dualpipev"),
    (("1f1b", 0, 4, 1), "p must be an integer in 1..64 (got 0)"),
    (("1f1b", 4, 2000, 1), "m must be an integer in 1..1024 (got 2000)"),
    (("gpipe", 4, 4, 2), "v must be 1 for schedule gpipe"),
    (("pipedream", 4, 4, 1), "naive, gpipe, 1f1b, interleaved, zb1, forward-only, looped-bfs"),
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


# torch's multi-stage classes compute each rank's order in ``_calculate_single_rank_operations``
# without a process group; an object with the attributes that method reads is enough.
TORCH_MULTI = {"interleaved": "ScheduleInterleaved1F1B", "looped-bfs": "ScheduleLoopedBFS",
               "interleaved-zb": "ScheduleInterleavedZeroBubble", "zbv": "ScheduleZBVZeroBubble",
               "dualpipev": "ScheduleDualPipeV"}


def _torch_rank_operations(schedule_class, p, m, v):
    sched = schedule_class.__new__(schedule_class)
    rounds = max(1, m // p)
    sched.pp_group_size, sched.n_local_stages, sched._n_microbatches = p, v, m
    sched.number_of_rounds, sched.microbatches_per_round = rounds, m // rounds
    sched.num_stages = sched._num_stages = p * v
    sched._stages = [None] * v
    return [sched._calculate_single_rank_operations(rank) for rank in range(p)]


def _our_label(action, schedule):
    """torch's action (global stage index; I = input-gradient backward) in our words."""
    if action.sub_actions:
        return "+".join(_our_label(sub, schedule) for sub in action.sub_actions)
    kind = {"F": "F", "I": "B", "B": "B", "W": "W"}[action.computation_type.value]
    return Action(kind, action.microbatch_index, schedule.place_of(action.stage_index)[1]).label()


@pytest.mark.parametrize("name", list(TORCH_MULTI))
def test_multi_chunk_orders_equal_torch(name):
    schedules = pytest.importorskip("torch.distributed.pipelining.schedules")
    cls, checked = getattr(schedules, TORCH_MULTI[name]), 0
    for ours in _grid(ps=(1, 2, 3, 4, 8), ms=(1, 2, 3, 4, 6, 8, 10, 12, 16)):
        if ours.name != name:
            continue
        theirs = _torch_rank_operations(cls, ours.p, ours.m, ours.v)
        assert [[str(a) for a in row] for row in ours.ranks] == \
            [[_our_label(a, ours) for a in row if a is not None] for row in theirs], \
            (name, ours.p, ours.m, ours.v)
        checked += 1
    assert checked >= 20


def test_zb1_is_torch_interleaved_zero_bubble_with_one_chunk():
    schedules = pytest.importorskip("torch.distributed.pipelining.schedules")
    for p, m in [(2, 4), (4, 8), (4, 12)]:
        ours = build_schedule("zb1", p, m)
        theirs = _torch_rank_operations(schedules.ScheduleInterleavedZeroBubble, p, m, 1)
        assert [[str(a) for a in row] for row in ours.ranks] == \
            [[_our_label(a, ours) for a in row if a is not None] for row in theirs]
