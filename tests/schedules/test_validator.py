"""The validator accepts correct schedules and explains, in words, the first broken one."""

import pytest

from ppedu.errors import UsageError
from ppedu.schedules.actions import Action, Schedule
from ppedu.schedules import build_schedule
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.schedules.validator import load_example, parse_markdown_table, validate

TABLE = """
| t | GPU 0 | GPU 1 | note |
|---|-------|-------|------|
| 0 | F_1   | -     | start |
| 1 | F_2   | F_1   |      |
| 2 | -     | B_1   |      |
| 3 | B_1   | F_2   |      |
| 4 | -     | B_2   |      |
| 5 | B_2   |       |      |
"""


def test_correct_1f1b_table_passes():
    timed = load_example("1f1b_p4_m4")
    assert (timed.schedule.p, timed.schedule.m, timed.one_based) == (4, 4, True)
    verdict = validate(timed)
    assert verdict.ok, verdict.message
    assert verdict.timeline.makespan == 14  # (m+p-1)(t_f+t_b)
    assert verdict.timeline.peak_inflight(0) == 4


def test_seed002_table_rejected_with_the_first_violation_in_time():
    verdict = validate(load_example("seed002_1f1b"))
    assert not verdict.ok
    assert "GPU1 runs B_1 at t=5" in verdict.message
    assert "input gradient comes from B_1 on GPU2, which only runs at t=6" in verdict.message
    assert any("GPU3 runs B_2 at t=5" in p and "F_2 on GPU3, which never runs" in p
               for p in verdict.problems)
    assert "GPU3 never runs F_2." in verdict.problems


def test_parser_reads_textbook_tables():
    timed = parse_markdown_table(TABLE)
    assert timed.one_based and timed.schedule.p == 2 and timed.schedule.m == 2
    assert [str(a) for a in timed.schedule.ranks[1]] == ["F0", "B0", "F1", "B1"]
    assert timed.steps[1] == [1, 2, 3, 4]
    assert validate(timed).ok


def test_zero_based_and_bold_cells():
    text = "| 时间 | GPU0 | GPU1 |\n|--|--|--|\n| **0** | **F0** | - |\n| 1 | F1 | F0 |\n" \
           "| 2 | - | B0 |\n| 3 | B0 | F1 |\n| 4 | - | B1 |\n| 5 | B1 | |\n"
    timed = parse_markdown_table(text)
    assert not timed.one_based and validate(timed).ok


def test_same_step_dependency_is_rejected():
    bad = TABLE.replace("| 1 | F_2   | F_1   |", "| 1 | F_2   | B_9   |").replace(
        "| 0 | F_1   | -     |", "| 0 | F_1   | F_1   |")
    verdict = validate(parse_markdown_table(bad))
    assert not verdict.ok
    assert verdict.message.startswith("INVALID: GPU1 runs F_1 at t=0, but its input activations "
                                      "come from F_1 on GPU0, which also runs at t=0")


@pytest.mark.parametrize("text, where", [
    ("| t | GPU0 |\n|---|---|\n| 0 | F_1 |\n| 1 | X7 |\n", "line 4"),
    ("| t | GPU0 |\n|---|---|\n| zero | F_1 |\n", "line 3"),
    ("| t | note |\n|---|---|\n| 0 | hi |\n", "line 1"),
    ("no table here", "no Markdown table"),
])
def test_unparseable_tables_name_the_line(text, where):
    with pytest.raises(UsageError, match=where):
        parse_markdown_table(text)


def test_deadlock_is_explained():
    # each rank waits for the other: GPU0 wants B0 before it has sent F0's activations on
    bad = Schedule("bad", 2, 1, 1, [[Action("B", 0), Action("F", 0)],
                                    [Action("F", 0), Action("B", 0)]])
    verdict = validate(bad)
    assert not verdict.ok and "Deadlock" in verdict.message
    assert "GPU0 is stuck at B_0 waiting for its own F_0" in verdict.message
    assert "GPU1 is stuck at F_0 waiting for F_0 from GPU0" in verdict.message


def test_missing_and_duplicate_actions():
    s = build_schedule("gpipe", 2, 2)
    s.ranks[1] = s.ranks[1][:-1] + [s.ranks[1][0]]
    verdict = validate(s)
    assert not verdict.ok
    assert "GPU1 never runs B_1." in verdict.problems
    assert "GPU1 runs F_0 2 times; once is right." in verdict.problems


def test_w_before_its_b_is_a_deadlock():
    s = build_schedule("zb1", 2, 2)
    s.ranks[0] = [Action("W", 0) if str(a) == "B0" else Action("B", 0) if str(a) == "W0" else a
                  for a in s.ranks[0]]
    assert "waiting for its own B_0" in validate(s).message


def test_simulated_gantt_parses_back():
    timeline = simulate(build_schedule("1f1b", 3, 5)).timeline
    verdict = validate(parse_markdown_table(timeline.text_gantt()))
    assert verdict.ok and verdict.timeline.makespan == timeline.makespan


def test_v_placement_table_from_a_simulated_zbv_gantt():
    """A ZB-V timetable validates only when the reader is told the chunks form a V."""
    gantt = simulate(build_schedule("zbv", 2, 3), CostModel(1, 1, 1)).timeline.text_gantt()
    assert validate(parse_markdown_table(gantt, placement="v")).ok
    assert not validate(parse_markdown_table(gantt)).ok  # read as Megatron's loop: wrong stages
    with pytest.raises(UsageError, match="placement must be one of loop, v"):
        parse_markdown_table(gantt, placement="zigzag")
