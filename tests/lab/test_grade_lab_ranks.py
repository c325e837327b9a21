"""Under `ppedu grade` the lab's grade() does not trust ranks a student's step patched: the verdict
says so (the ranks are stopped, the next run starts fresh ones)."""

from __future__ import annotations

import pytest

from conftest import student
from ppedu.lab import grade

pytestmark = pytest.mark.ranks

PATCHING = """
def train_step(stage):
    import ppedu.lab.stage as lab_stage
    lab_stage.Stage.finish = lambda self: None        # silence the grader's end-of-step checks
    for mb in range(stage.num_microbatches):
        stage.send_forward(mb, stage.forward(mb, stage.recv_forward(mb)))
    for mb in range(stage.num_microbatches):
        stage.send_backward(mb, stage.backward(mb, stage.recv_backward(mb)))
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_patched_ranks_fail_the_grade_under_ppedu_grade(monkeypatch) -> None:
    import ppedu.instructor.autograde.answers as answers   # hands the lab its rank check, as in `ppedu grade`
    import ppedu.unanswered as contract
    assert contract.rank_check is answers.verify_lab
    monkeypatch.setattr(contract, "GRADING", True)
    verdict = grade(student(PATCHING), "afab", p=2, m=2, workload="timed")
    assert not verdict.ok and "changed the checking code" in verdict.message, verdict.message
    assert "Stage.finish" in verdict.message and "(on a rank)" in verdict.message
    monkeypatch.setattr(contract, "GRADING", False)       # the same step outside `ppedu grade`: graded
    assert "changed the checking code" not in grade(student(PATCHING), "afab", p=2, m=2,
                                                      workload="timed").message
