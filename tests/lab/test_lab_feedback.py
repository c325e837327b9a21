"""Issue 26: the lab's feedback teaches. Each test submits a mistake learners make, as a learner
would (a function compiled from source, shipped by value), under the notebook's own grading, and
checks the message: it is true, it names where, and it does not contain the answer.

All submissions share one warm 4-rank cluster: a p=2 attempt runs on its first two ranks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ppedu.lab import diagnose, grade
from ppedu.lab.job import LabReport
from ppedu.lab.stage import _mixed_up
from ppedu.training.loops import LOOPS
from conftest import student

pytestmark = pytest.mark.slow
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06_build_your_pipeline.ipynb"


def _notebook_parameters() -> dict:
    """p and m of notebook 06's parameters cell: the grading a learner gets by default."""
    cell = next(c for c in json.loads(NOTEBOOK.read_text())["cells"]
                if "parameters" in c.get("metadata", {}).get("tags", []))
    values: dict = {}
    exec("".join(cell["source"]), {}, values)
    return {"p": values["p"], "m": values["m"]}


def _message(cluster, source, schedule="1f1b", **kwargs) -> str:
    fn = student(source) if isinstance(source, str) else source
    verdict = grade(fn, schedule, **{**_notebook_parameters(), **kwargs}, cluster=cluster)
    assert not verdict.ok, verdict.message
    return verdict.message


ONE_F_ONE_B = """
def train_step(stage):
    p, r, m = stage.world_size, stage.rank, stage.num_microbatches
    warmup = {warmup}
    def fwd(mb):
        stage.send_forward(mb, stage.forward(mb, stage.recv_forward(mb)))
    def bwd(mb):
        g = stage.recv_backward(mb)
        g_in = stage.backward(mb, g)
        stage.send_backward(mb, {sent})
    for mb in range(warmup):
        fwd(mb)
    for i in range(m - warmup):
        fwd(warmup + i)
        bwd({steady_backward})
    for mb in range({cooldown}):
        bwd(mb)
"""


def one_f_one_b(warmup="min(p - r - 1, m)", sent="g_in", steady_backward="i",
                cooldown="m - warmup, m") -> str:
    return ONE_F_ONE_B.format(warmup=warmup, sent=sent, steady_backward=steady_backward, cooldown=cooldown)


@pytest.mark.ranks
def test_the_right_answers_pass_and_say_where_they_were_graded(cluster4):
    assert _notebook_parameters()["p"] < 3, "the notebook draws with p=2: the grading must add middle ranks"
    verdict = grade(student(one_f_one_b()), "1f1b", **_notebook_parameters(), cluster=cluster4)
    assert verdict.ok, verdict.message
    assert "Also graded on p=4 ranks, where ranks 1 and 2 are middle ranks" in verdict.message
    # the model run's bubble is not the schedule's: a ✓ never shows it beside theory
    assert "Measured bubble" not in verdict.message and "not the schedule's" in verdict.message
    assert verdict.result.spec.p == _notebook_parameters()["p"]   # the pictures stay at the notebook's p


@pytest.mark.ranks
def test_passing_on_the_received_gradient_fails_on_a_middle_rank(cluster4):
    message = _message(cluster4, one_f_one_b(sent="g if g is not None else g_in"))
    assert message.startswith("Right on p=2 ranks, wrong on p=4 ranks")
    assert ("rank 1: send_backward(0) was given the gradient you received (recv_backward(0) returned), "
            "not the one backward returned") in message
    assert "must get the g received for mb" not in message   # not the mixed-up-micro-batches text


@pytest.mark.ranks
def test_a_warmup_right_only_on_rank_0_fails_and_is_counted_like_with_like(cluster4):
    message = _message(cluster4, one_f_one_b(warmup="p - 1 if stage.is_first else 0"))
    assert "wrong on p=4 ranks" in message
    assert "rank 1's compute call #2 is B0 but 1F1B runs F1 there" in message
    assert ("Rank 1 runs 1 forward(s) before its first backward where 1F1B runs 3: a warm-up of "
            "min(p - rank - 1, m) = 2, then the steady state's first forward") in message
    assert "2 forward(s) too short" in message


@pytest.mark.ranks
def test_a_warmup_one_too_long_is_one_too_long(cluster4):
    message = _message(cluster4, one_f_one_b(warmup="min(p - r, m)"))
    assert "Rank 0 runs 3 forward(s) before its first backward where 1F1B runs 2" in message
    assert "1 forward(s) too long" in message


@pytest.mark.parametrize("source", [
    one_f_one_b(steady_backward="warmup + i"),       # backward of the micro-batch it just ran forward
    one_f_one_b(cooldown="0"),                        # no cool-down
], ids=["backward of the wrong micro-batch", "missing cool-down"])
@pytest.mark.ranks
def test_the_warmup_is_not_blamed_when_it_is_right(cluster4, source):
    message = _message(cluster4, source)
    assert "warm-up" not in message and "warms up" not in message


@pytest.mark.ranks
def test_backward_of_the_wrong_micro_batch_names_it(cluster4):
    message = _message(cluster4, one_f_one_b(steady_backward="warmup + i"))
    assert "rank 0's compute call #3 is B1 but 1F1B runs B0 there" in message


UNANSWERED = """
def train_step(stage):
    raise NotImplementedError("exercise 4 is not answered yet")
"""

NOT_ANSWERED_SUBCLASS = """
class NotAnswered(NotImplementedError):
    pass

def train_step(stage):
    raise NotAnswered("Exercise 2")
"""


@pytest.mark.ranks
@pytest.mark.parametrize("schedule", ["afab", "1f1b", "interleaved"])
@pytest.mark.parametrize("source", [UNANSWERED, NOT_ANSWERED_SUBCLASS], ids=["stub", "NotAnswered"])
def test_an_unanswered_cell_says_only_not_written_yet(cluster4, schedule, source):
    if source is NOT_ANSWERED_SUBCLASS:
        # the student copy's stub: recognised before any rank starts, one line, nothing else (a
        # check cell prints it and Run All goes on; `ppedu grade` scores the exercise 0)
        from ppedu.notebook.grading import NotAnswered
        with pytest.raises(NotAnswered) as raised:
            grade(student(source), schedule, **_notebook_parameters(), cluster=cluster4)
        assert str(raised.value) == "Exercise 2: not answered yet"
        return
    verdict = grade(student(source), schedule, **_notebook_parameters(), cluster=cluster4)
    assert not verdict.ok and verdict.message == diagnose.NOT_WRITTEN
    assert "expected" not in verdict.message and "Also" not in verdict.message and "F0" not in verdict.message
    assert verdict.result.summary() == "nothing measured: train_step is not written yet"


LAST_SEND_MISSING = """
def train_step(stage):
    m = stage.num_microbatches
    for mb in range(m):
        stage.send_forward(mb, stage.forward(mb, stage.recv_forward(mb)))
    for mb in range(m):
        g_in = stage.backward(mb, stage.recv_backward(mb))
        if not (stage.is_last and mb == m - 1):   # the bug: the last gradient is never sent
            stage.send_backward(mb, g_in)
"""


@pytest.mark.ranks
def test_a_wait_cut_short_by_a_finished_sender_is_no_six_second_deadlock(cluster4):
    verdict = grade(student(LAST_SEND_MISSING), "afab", p=2, m=4, cluster=cluster4)
    waited = max(r.waited_s for r in verdict.result.reports)
    assert "rank 0 waits in recv_backward(3) from rank 1" in verdict.message
    assert "Rank 1 finished its step without ever calling send_backward(3)" in verdict.message
    if waited < 0.9 * verdict.result.spec.deadlock_s:   # what the message says follows the wait
        assert not verdict.message.startswith("Deadlock") and "can no longer come" in verdict.message
    else:
        assert verdict.message.startswith("Deadlock (nothing moved for 6 s)")


@pytest.mark.ranks
def test_a_plain_1f1b_handed_in_for_interleaved_hears_that_the_chunks_were_ignored(cluster4):
    message = _message(cluster4, LOOPS["1f1b"], "interleaved")
    assert message.startswith("Every call of your train_step went to chunk 0")
    assert "recv_backward(0, chunk=0)" in message          # chunk 0 labelled too


CHUNK_BY_CHUNK = """
def train_step(stage):
    m, v = stage.num_microbatches, stage.num_chunks
    for c in range(v):
        for mb in range(m):
            stage.send_forward(mb, stage.forward(mb, stage.recv_forward(mb, c), c), c)
    for c in reversed(range(v)):
        for mb in range(m):
            stage.send_backward(mb, stage.backward(mb, stage.recv_backward(mb, c), c), c)
"""


@pytest.mark.ranks
def test_interleaved_messages_label_every_chunk_and_explain_the_notation(cluster4):
    message = _message(cluster4, CHUNK_BY_CHUNK, "interleaved")
    assert "compute call #3 is F2c0 but interleaved 1F1B runs F0c1 there" in message
    assert "(F2c0 = forward of micro-batch 2 on chunk 0)" in message
    assert "runs every forward before its first backward, as AFAB does" in message
    assert "F0c1 F1c1" not in message   # the schedule's order beyond the first difference stays hidden


def test_a_tensor_of_the_other_chunk_or_micro_batch_is_named_as_such():
    assert _mixed_up(("recv_forward", 2, 0), ("recv_forward", 2, 1), "recv_forward(2, chunk=0)") \
        .endswith("chunk 0 and chunk 1 are mixed up")
    assert _mixed_up(("recv_backward", 3, 0), ("recv_backward", 0, 0), "recv_backward(3)") \
        .endswith("micro-batches 3 and 0 are mixed up")
    assert _mixed_up(("recv_backward", 0, 0), ("backward", 0, 0), "recv_backward(0)") \
        .startswith("the gradient you received (recv_backward(0) returned), not the one backward returned")


# --- exercise 3: the warm-up study --------------------------------------------------------------

IGNORES_WARMUP = """
def one_f_one_b(stage, warmup):
    p, r, m = stage.world_size, stage.rank, stage.num_microbatches
    warmup = min(p - r - 1, m)          # the bug: the argument is overwritten
    for mb in range(warmup):
        stage.send_forward(mb, stage.forward(mb, stage.recv_forward(mb)))
    for i in range(m - warmup):
        stage.send_forward(warmup + i, stage.forward(warmup + i, stage.recv_forward(warmup + i)))
        stage.send_backward(i, stage.backward(i, stage.recv_backward(i)))
    for mb in range(m - warmup, m):
        stage.send_backward(mb, stage.backward(mb, stage.recv_backward(mb)))
"""

NOT_CLAMPED = "\n".join(line for line in IGNORES_WARMUP.splitlines()   # the argument used, never clamped
                        if "the bug" not in line) + "\n"

VARIANTS = """
def more(stage):
    one_f_one_b(stage, stage.world_size - stage.rank)

def less(stage):
    one_f_one_b(stage, stage.world_size - stage.rank - 2)
"""


def _variants(source: str) -> dict:
    namespace = {"__name__": "a_students_notebook"}
    exec(compile(source + VARIANTS, "<notebook cell>", "exec"), namespace)
    return {"more": namespace["more"], "less": namespace["less"]}


def _study_failure(cluster, source: str) -> str:
    from ppedu.lab.warmup import warmup_study
    from ppedu.notebook.checks.lab import check_warmup_prediction
    right = {"more": {"bubble": "same", "peak_rank0": 3, "correct": True},
             "less": {"bubble": "up", "peak_rank0": 1, "correct": True}}
    study = warmup_study(_variants(source), p=2, m=4, tf_ms=5.0, cluster=cluster)
    with pytest.raises(AssertionError) as verdict:
        check_warmup_prediction(right, study)
    return str(verdict.value)


@pytest.mark.ranks
def test_a_one_f_one_b_that_ignores_warmup_is_not_graded_on_its_prediction(cluster4):
    message = _study_failure(cluster4, IGNORES_WARMUP)
    assert message.startswith("variant 'more' did not run through: rank 0 did not run the warm-up it was "
                              "given (p - r - 1 + 1 = 2, clamped to 0..m): its order is the one of warm-up 1")
    assert "Does one_f_one_b use its `warmup` argument" in message


@pytest.mark.ranks
def test_a_variants_own_error_is_reported_not_the_wait_it_caused(cluster4):
    message = _study_failure(cluster4, NOT_CLAMPED)
    assert message.startswith("variant 'less' did not run through: rank 1: recv_forward(mb=-1): mb must "
                              "be an integer in 0..3 (line 7 of one_f_one_b")   # before rank 0's wait
    assert "rank 0 waits in recv_backward(0) from rank 1" in message


@pytest.mark.ranks
def test_an_unanswered_one_f_one_b_is_not_written_yet(cluster4):
    message = _study_failure(cluster4, "def one_f_one_b(stage, warmup):\n    raise NotImplementedError\n")
    assert message.startswith("one_f_one_b is not written yet")


def test_a_wait_across_the_chunk_boundary_names_the_senders_chunk():
    """Rank 0's chunk 1 receives from rank 1's chunk 0 (virtual stage 1 -> 2): the missing send is
    send_forward(0, chunk=0) on rank 1, and the message says so."""
    waiting = LabReport(0, "stuck", "recv_forward(0, chunk=1) from rank 1", ("recv_forward", 0, 1, 1), 0.1,
                        calls=[("forward", 0, 0)])
    finished = LabReport(1, "ok", calls=[("recv_forward", 0, 0), ("forward", 0, 0)])
    message = diagnose.run_failure([waiting, finished], deadlock_s=6.0, v=2)
    assert "rank 0 waits in recv_forward(0, chunk=1) from rank 1" in message
    assert "Rank 1 finished its step without ever calling send_forward(0, chunk=0)" in message
    assert not message.startswith("Deadlock")   # 0.1 s: the sender had finished, nothing to wait out
