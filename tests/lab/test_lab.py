"""Chapter 6's grader on real ranks: broken submissions get their specific message fast, and the
warm cluster survives every one of them (same worker processes afterwards, no restart).

Submissions are compiled from source into a module that cannot be imported, exactly like a
function defined in a notebook, so they travel by value (cloudpickle) as a student's would.
"""

from __future__ import annotations

import time

import pytest

from conftest import alive, student
from ppedu.errors import UsageError
from ppedu.lab import grade, measure
from ppedu.training.loops import LOOPS

DEADLOCK = """
def train_step(stage):
    # both ranks receive before they send: rank 0 waits for a gradient it never asked for
    for mb in range(stage.num_microbatches):
        if not stage.is_last:
            stage.recv_backward(mb)
        x = stage.recv_forward(mb)
        stage.send_forward(mb, stage.forward(mb, x))
"""

AFAB_FORWARDS = """
def train_step(stage):
    m = stage.num_microbatches
    for mb in range(m):
        stage.send_forward(mb, stage.forward(mb, stage.recv_forward(mb)))
"""

MISSING_SEND = AFAB_FORWARDS + """
    for mb in range(m):
        g_in = stage.backward(mb, stage.recv_backward(mb))
        if not (stage.is_last and mb == 2):   # the bug: one gradient is never sent
            stage.send_backward(mb, g_in)
"""

WRONG_PAIRING = AFAB_FORWARDS + """
    grads = [stage.recv_backward(mb) for mb in range(m)]
    for mb in range(m):
        stage.send_backward(mb, stage.backward(mb, grads[m - 1 - mb]))   # the bug: reversed
"""

NO_SCALING = "import torch\n" + AFAB_FORWARDS + """
    for mb in range(m):
        g = torch.ones(()) if stage.is_last else stage.recv_backward(mb)   # the bug: no 1/m
        stage.send_backward(mb, stage.backward(mb, g))
"""

RAISES = """
def train_step(stage):
    x = stage.recv_forward(0)
    y = stage.forwrd(0, x)
"""

BACKWARD_FIRST = """
def train_step(stage):
    stage.backward(0, stage.recv_backward(0))
"""


def _graded(cluster, source_or_fn, schedule="1f1b", p=None, **kwargs):
    fn = student(source_or_fn) if isinstance(source_or_fn, str) else source_or_fn
    pids = cluster.pids()
    start = time.monotonic()
    verdict = grade(fn, schedule, p=p or cluster.world_size, cluster=cluster, **kwargs)
    elapsed = time.monotonic() - start
    assert elapsed < 30, f"the verdict took {elapsed:.0f} s"
    assert not cluster.closed and cluster.pids() == pids and alive(pids) == pids, "cluster restarted"
    assert not verdict.ok
    return verdict.message


@pytest.mark.ranks
def test_deadlock_names_each_rank_and_what_it_waits_for(cluster4):
    message = _graded(cluster4, DEADLOCK, p=2)   # a p=2 attempt on the first 2 ranks of 4
    assert message.startswith("Deadlock")
    assert "rank 0 waits in recv_backward(0) from rank 1" in message
    assert "rank 1 waits in recv_forward(0) from rank 0" in message
    assert grade(LOOPS["1f1b"], "1f1b", p=2, m=4, cluster=cluster4).ok  # the cluster still works


# (submission, graded as, ranks, what the message must say)
BROKEN = {
    "missing send": (MISSING_SEND, "afab", 4, [
        "rank 2 waits in recv_backward(2) from rank 3",
        "Rank 3 finished its step without ever calling send_backward(2): a send that never happens"]),
    "wrong pairing": (WRONG_PAIRING, "afab", 2, [
        "rank 0: backward(0) was given the tensor recv_backward(3) returned",
        "another micro-batch's activations"]),
    "afab as 1f1b": (LOOPS["afab"], "1f1b", 2, ["This is AFAB (GPipe)", "call #3 is F2 but 1F1B runs B0"]),
    "1f1b as afab": (LOOPS["1f1b"], "afab", 2, ["This is 1F1B; the exercise asks for AFAB"]),
    "missing 1/m": (NO_SCALING, "afab", 2, ["4 = m times too large", "1/m"]),
    "exception": (RAISES, "afab", 2, ["rank 0 raised AttributeError: 'Stage' object has no attribute 'forwrd'",
                                      "line 4 of train_step"]),
    "backward first": (BACKWARD_FIRST, "afab", 2, ["backward(0) before forward(0)"]),
}


@pytest.mark.ranks
@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_submission_gets_its_message(case, cluster4):
    submission, schedule, p, fragments = BROKEN[case]
    message = _graded(cluster4, submission, schedule, p=p)
    for fragment in fragments:
        assert fragment in message


def test_not_a_function_and_bad_parameters():
    assert not grade("F0 B0", "1f1b").ok
    with pytest.raises(UsageError, match="schedule must be one of"):
        grade(LOOPS["1f1b"], "zigzag")
    with pytest.raises(UsageError, match="p must be an integer in 2..8"):
        measure(LOOPS["1f1b"], p=99)


@pytest.mark.ranks
def test_timed_bubble_and_peak_against_theory(cluster4):
    result = grade(LOOPS["1f1b"], "1f1b", p=2, m=4, workload="timed", cluster=cluster4,
                   tf_ms=30, tb_ms=30).result
    assert result.peak_activations == result.theory_peak_activations == [2, 1]
    # a sleep-based step: theory plus per-message overhead (large on a loaded 2-core machine), so
    # assert what the measurement must show: no better than theory, and pipelined (nearer to
    # (p-1)/(m+p-1) than to the naive (p-1)/p it would have without overlap)
    naive = 1 / 2
    assert result.theory_bubble - 0.03 <= result.measured_bubble < (result.theory_bubble + naive) / 2


def _study(bubbles: dict, peaks: dict, diffs: dict):
    """A WarmupStudy as the lab would measure it (no ranks needed to test the checker)."""
    from types import SimpleNamespace

    from ppedu.lab.warmup import WarmupStudy
    timed = {n: SimpleNamespace(peak_activations=[peaks[n], 1]) for n in bubbles}
    return WarmupStudy(2, 4, timed, dict(bubbles), dict(diffs))


def test_warmup_prediction_checker():
    from ppedu.notebook.checks.lab import check_warmup_prediction
    study = _study({"1f1b": 0.2, "more": 0.2, "less": 0.5}, {"1f1b": 2, "more": 3, "less": 1},
                   {"1f1b": 1e-8, "more": 1e-8, "less": 1e-8})
    right = {"more": {"bubble": "same", "peak_rank0": 3, "correct": True},
             "less": {"bubble": "up", "peak_rank0": 1, "correct": True}}
    check_warmup_prediction(right, study)
    wrong = {**right, "less": {"bubble": "same", "peak_rank0": 1, "correct": True}}
    with pytest.raises(AssertionError, match="less: your prediction bubble = 'same' is not what the run "
                                             "shows. Hint: .* starts earlier") as verdict:
        check_warmup_prediction(wrong, study)
    assert "'up'" not in str(verdict.value) and "0.5" not in str(verdict.value)   # not the answer
    wrong = {**right, "more": {"bubble": "up", "peak_rank0": 3, "correct": True}}
    with pytest.raises(AssertionError, match="more: .* Hint: .* starts later"):
        check_warmup_prediction(wrong, study)
    wrong = {**right, "more": {"bubble": "same", "peak_rank0": 2, "correct": True}}
    with pytest.raises(AssertionError, match="more: your prediction peak_rank0 = 2 .* Hint: count") as verdict:
        check_warmup_prediction(wrong, study)
    assert "3" not in str(verdict.value)
    with pytest.raises(AssertionError, match="'correct'\\] must be True or False"):
        check_warmup_prediction({**right, "less": {**right["less"], "correct": "yes"}}, study)
    with pytest.raises(AssertionError, match="one entry per variant .* \"peak_rank0\": <int>"):
        check_warmup_prediction({"more": right["more"]}, study)
    study.failures["less"] = "rank 0: NotImplementedError: exercise not answered yet"
    with pytest.raises(AssertionError, match="variant 'less' did not run through"):
        check_warmup_prediction(right, study)
