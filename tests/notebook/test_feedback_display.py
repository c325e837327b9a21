"""A checker's failure, as the student sees it: one short message and their own line, no frames
from ppedu (``ppedu.notebook.grading``: IPython's ``_render_traceback_`` on what @grader raises).

Checked twice: in an IPython shell (fast) and in a real kernel through nbclient (the error output a
notebook stores and JupyterLab shows)."""

from __future__ import annotations

import re

import nbformat
import pytest

WRONG = 'from ppedu.notebook.checks.schedules import check_bubble_formula\n' \
        'def naive_bubble(p):\n    return 0.5\ncheck_bubble_formula(naive_bubble, "naive")'
CRASH = 'from ppedu.notebook.checks.schedules import check_bubble_formula\n' \
        'def naive_bubble(p):\n    return (p - 1) / undefined_name\n' \
        'check_bubble_formula(naive_bubble, "naive")'
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _shell_output(code: str, capsys) -> str:
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    try:
        result = shell.run_cell(code)
        assert result.error_in_exec is not None, "the checker should have failed"
    finally:
        InteractiveShell.clear_instance()
    return ANSI.sub("", capsys.readouterr().out)


def _assert_short(out: str, line: str) -> None:
    lines = [x for x in out.strip().splitlines() if x.strip()]
    assert len(lines) < 10, f"{len(lines)} lines of feedback:\n{out}"
    assert not re.search(r"grading\.py|exercises\.py|site-packages|Traceback", out), out
    assert any(line in x for x in lines), f"the student's line {line!r} is not shown:\n{out}"


def test_wrong_answer_is_a_short_message_and_the_students_line(capsys) -> None:
    out = _shell_output(WRONG, capsys)
    assert out.lstrip().startswith("AssertionError: For p="), out
    _assert_short(out, 'check_bubble_formula(naive_bubble, "naive")')


def test_a_failing_student_function_shows_its_own_line(capsys) -> None:
    out = _shell_output(CRASH, capsys)
    assert "NameError" in out.strip().splitlines()[0], out   # what went wrong, on the first line
    _assert_short(out, "return (p - 1) / undefined_name")
    _assert_short(out, 'check_bubble_formula(naive_bubble, "naive")')


def test_outside_ipython_the_exception_is_unchanged() -> None:
    from ppedu.notebook.checks.schedules import check_bubble_formula
    with pytest.raises(AssertionError, match="For p=") as info:
        check_bubble_formula(lambda p: 0.5, "naive")
    assert info.traceback, "the full traceback stays for pytest and scripts"


@pytest.mark.ranks
@pytest.mark.slow
def test_in_a_real_kernel_the_error_output_is_short(tmp_path) -> None:
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(WRONG)])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "AssertionError", nb.cells[0].outputs
    _assert_short(ANSI.sub("", "\n".join(errors[0].traceback)),
                  'check_bubble_formula(naive_bubble, "naive")')


def test_a_lab_verdict_is_shown_once(capsys) -> None:
    """Chapter 6's cells: check_verdict prints the ✓ line, or fails with the message, once."""
    code = ("from ppedu.lab.grader import Grade\n"
            "from ppedu.notebook.checks.lab import check_verdict\n"
            "verdict = Grade(False, 'rank 1 waits for a forward that rank 0 never sends')\n"
            "check_verdict(verdict)")
    out = _shell_output(code, capsys)
    assert out.count("never sends") == 1, out
    _assert_short(out, "check_verdict(verdict)")
    from ppedu.lab.grader import Grade
    from ppedu.notebook.checks.lab import check_verdict
    check_verdict(Grade(True, "your AFAB order matches, gradients within 1e-5"))
    assert capsys.readouterr().out.count("gradients within 1e-5") == 1


def test_a_failed_action_names_its_cause_on_the_first_line() -> None:
    """A rank whose peer was killed: the first line (status lines, panels, ClusterError) says
    where in the schedule and why, not "...(gpipe p=2 m=4 v=1):" with nothing after the colon."""
    from ppedu.schedules import build_schedule
    from ppedu.training.executor import _failed_at
    where = build_schedule("gpipe", 2, 4).where_it_failed(0, 4)
    text = _failed_at(where, RuntimeError("Connection closed by peer [127.0.0.1]:4242"))
    first = text.splitlines()[0]
    assert first == ("GPU0 failed at action 4 of 8 (gpipe p=2 m=4 v=1): RuntimeError: "
                     "Connection closed by peer [127.0.0.1]:4242"), first
    assert "<-- here" in text   # the schedule around the failing action still follows
