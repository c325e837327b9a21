"""The exercise checks accept right answers (printing ✓) and reject wrong ones with a useful hint."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ppedu.notebook.checks import schedules as ex
from ppedu.notebook.checks import serving as ex_serving, tp as ex_tp


@pytest.mark.ranks
def test_importing_exercises_is_cheap() -> None:
    code = "import sys, ppedu.notebook.checks.schedules; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "ppedu.notebook.checks.schedules must import other modules lazily"


# --- bubble formula -----------------------------------------------------------------------------

def test_bubble_formula_right_answers_pass(capsys) -> None:
    ex.check_bubble_formula(lambda p, m: (p - 1) / (m + p - 1), kind="gpipe")
    ex.check_bubble_formula(lambda p: (p - 1) / p, kind="naive")
    ex.check_bubble_formula(lambda p, m: (p - 1) / m, kind="playbook")
    ex.check_bubble_formula(lambda p, m, v: (p - 1) / (v * m + p - 1), kind="interleaved")
    assert capsys.readouterr().out.count("\u2713") == 4


def test_bubble_formula_names_the_playbook_confusion() -> None:
    with pytest.raises(AssertionError, match="Playbook ratio"):
        ex.check_bubble_formula(lambda p, m: (p - 1) / m, kind="gpipe")
    with pytest.raises(AssertionError, match="idle share"):
        ex.check_bubble_formula(lambda p, m: (p - 1) / (m + p - 1), kind="playbook")


def test_bubble_formula_off_by_one_and_ignoring_m() -> None:
    with pytest.raises(AssertionError, match="m\\+p-1 slots"):
        ex.check_bubble_formula(lambda p, m: (p - 1) / (m + p), kind="gpipe")
    with pytest.raises(AssertionError, match="ignores the micro-batches"):
        ex.check_bubble_formula(lambda p, m: (p - 1) / p, kind="gpipe")


def test_bubble_formula_student_errors_are_explained() -> None:
    def unfinished(p, m):
        raise NotImplementedError

    with pytest.raises(AssertionError, match="NotImplementedError"):
        ex.check_bubble_formula(unfinished)
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        ex.check_bubble_formula(lambda p, m: (p - 1) / (m - 1))
    with pytest.raises(AssertionError, match="return a number"):
        ex.check_bubble_formula(lambda p, m: "0.5")
    with pytest.raises(ValueError):
        ex.check_bubble_formula(lambda p, m: 0.0, kind="nope")


# --- 1F1B order of one rank ---------------------------------------------------------------------

RANK2_P4_M8 = ["F0", "F1", "B0", "F2", "B1", "F3", "B2", "F4", "B3", "F5", "B4", "F6", "B5",
               "F7", "B6", "B7"]


def test_rank_order_accepts_1f1b_in_any_spelling(capsys) -> None:
    ex.check_rank_order(4, 8, 2, RANK2_P4_M8)
    ex.check_rank_order(4, 8, 2, [s[0] + "_" + s[1:] for s in RANK2_P4_M8])
    ex.check_rank_order(4, 8, 2, [(s[0], int(s[1:])) for s in RANK2_P4_M8])
    assert capsys.readouterr().out.count("\u2713") == 3


def test_rank_order_gpipe_order_deadlocks_with_1f1b_neighbours() -> None:
    gpipe = [f"F{i}" for i in range(8)] + [f"B{i}" for i in range(8)]
    with pytest.raises(AssertionError, match="GPipe's order") as verdict:
        ex.check_rank_order(4, 8, 2, gpipe)
    assert "the validator says: INVALID: Deadlock" in str(verdict.value)


def _rank2(warmup: int, backward_of_same: bool = False) -> list[str]:
    """Rank 2's order (p=4, m=8) as a learner writes it: a warm-up, the steady state, the cool-down."""
    order = [f"F{i}" for i in range(warmup)]
    for i in range(8 - warmup):
        order += [f"F{i + warmup}", f"B{i + warmup if backward_of_same else i}"]
    if backward_of_same:  # the cool-down then runs the one backward that is left
        return order + ["B0"]
    return order + [f"B{i}" for i in range(8 - warmup, 8)]


# three different bugs, three different messages; none states the warm-up count (the exercise)
RANK_ORDER_MISTAKES = {
    "warm-up 3": (_rank2(3), ["GPU2 runs more forwards before its first backward", "too long",
                              "the validator says: INVALID"]),
    "warm-up 0": (_rank2(0), ["fewer forwards before its first backward", "too short", "step takes"]),
    "AFAB": ([f"F{i}" for i in range(8)] + [f"B{i}" for i in range(8)],
             ["GPU2 runs all 8 forwards before its first backward", "GPipe's order"]),
    "backward of the same micro-batch": (_rank2(1, backward_of_same=True), [
        "GPU2 runs B1 (the micro-batch it has just run forward) while micro-batch 0 has been in flight",
        "oldest micro-batch in flight first"]),
}


@pytest.mark.parametrize("case", list(RANK_ORDER_MISTAKES))
def test_rank_order_mistakes_get_their_own_message_without_the_answer(case) -> None:
    order, fragments = RANK_ORDER_MISTAKES[case]
    with pytest.raises(AssertionError) as verdict:
        ex.check_rank_order(4, 8, 2, order)
    message = str(verdict.value)
    for fragment in fragments:
        assert fragment in message
    others = [f for c, (_, fs) in RANK_ORDER_MISTAKES.items() if c != case for f in fs[:1]]
    assert not any(f in message for f in others), "each mistake has its own words"
    # the warm-up count (1 on GPU2) and the right order are the exercise: never in a message
    assert "1 forward" not in message and "starts with" not in message
    assert " ".join(RANK2_P4_M8[:6]) not in message


def test_rank_order_too_much_memory_is_rejected() -> None:
    greedy = ["F0", "F1", "F2", "B0", "F3", "B1", "F4", "B2", "F5", "B3", "F6", "B4", "F7",
              "B5", "B6", "B7"]
    with pytest.raises(AssertionError, match="holds the activations of 3"):
        ex.check_rank_order(4, 8, 2, greedy)


def test_rank_order_missing_action_and_bad_tokens() -> None:
    with pytest.raises(AssertionError, match="B7 is missing"):
        ex.check_rank_order(4, 8, 2, RANK2_P4_M8[:-1])
    with pytest.raises(AssertionError, match="numbered from 0"):
        ex.check_rank_order(4, 8, 2, [s[0] + str(int(s[1:]) + 1) for s in RANK2_P4_M8])
    with pytest.raises(AssertionError, match="write actions like"):
        ex.check_rank_order(4, 8, 2, ["forward 0"])


# --- choose m under a memory budget -------------------------------------------------------------

def test_choose_m_gpipe_seed002_example(capsys) -> None:
    # seed 002: 2 GB per micro-batch, 32 GB free -> GPipe fits at most 16
    ex.check_choose_m(16, p=4, memory_budget_mb=32_000, per_microbatch_mb=2_000)
    assert "\u2713" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="does not fit"):
        ex.check_choose_m(20, p=4, memory_budget_mb=32_000, per_microbatch_mb=2_000)
    with pytest.raises(AssertionError, match="m=16 fits too"):
        ex.check_choose_m(8, p=4, memory_budget_mb=32_000, per_microbatch_mb=2_000)


def test_choose_m_1f1b_is_not_bounded_by_m(capsys) -> None:
    ex.check_choose_m(64, p=4, memory_budget_mb=32_000, per_microbatch_mb=2_000, schedule="1f1b")
    with pytest.raises(AssertionError, match="m=64 fits too"):
        ex.check_choose_m(16, p=4, memory_budget_mb=32_000, per_microbatch_mb=2_000,
                          schedule="1f1b")
    ex.check_choose_m(None, p=4, memory_budget_mb=1_000, per_microbatch_mb=2_000)
    assert capsys.readouterr().out.count("\u2713") == 2


# --- TP vs PP bytes, batching policy, decode bubble --------------------------------------------

def test_tp_vs_pp_bytes() -> None:
    measured = {"tp": {"bytes": 9_000_000, "messages": 96}, "pp": {"bytes": 300_000, "messages": 6}}
    ex_tp.check_tp_vs_pp_bytes("TP", measured)
    with pytest.raises(AssertionError, match="4 all-reduces"):
        ex_tp.check_tp_vs_pp_bytes("pp", measured)
    with pytest.raises(AssertionError, match="'tp' or 'pp'"):
        ex_tp.check_tp_vs_pp_bytes("both", measured)
    ex_tp.check_tp_vs_pp_bytes("tp", measured, ratio=30)          # 9e6 / 3e5 = 30
    with pytest.raises(AssertionError, match="30.00x more bytes, not 15.00x"):
        ex_tp.check_tp_vs_pp_bytes("tp", measured, ratio=15)      # the payload ratio, not the wire's


RESULTS = [
    {"policy": "static", "throughput_tok_s": 400.0, "e2e_p99_s": 9.0},
    {"policy": "dynamic", "throughput_tok_s": 500.0, "e2e_p99_s": 4.0},
    {"policy": "continuous", "throughput_tok_s": 900.0, "e2e_p99_s": 6.0},
]


def test_policy_choice() -> None:
    ex_serving.check_policy_choice("continuous", RESULTS, target_s=7.0)
    ex_serving.check_policy_choice("dynamic", RESULTS, target_s=5.0)
    ex_serving.check_policy_choice(None, RESULTS, target_s=1.0)
    with pytest.raises(AssertionError, match="misses the target"):
        ex_serving.check_policy_choice("continuous", RESULTS, target_s=5.0)
    with pytest.raises(AssertionError, match="more throughput"):
        ex_serving.check_policy_choice("dynamic", {r["policy"]: r for r in RESULTS}, target_s=7.0)
    with pytest.raises(AssertionError, match="Choose one of"):
        ex_serving.check_policy_choice("orca", RESULTS, target_s=7.0)


def test_decode_bubble() -> None:
    ex_serving.check_decode_bubble(0.75, p=4, inflight=1)
    ex_serving.check_decode_bubble(0.0, p=4, inflight=4)
    with pytest.raises(AssertionError, match="how many of the p stages"):
        ex_serving.check_decode_bubble(0.0, p=4, inflight=1)
    for wrong in (0.25, 1 / 4, 0.8):   # 1/p (the busy share), a guess: the hint never holds 0.75
        with pytest.raises(AssertionError, match=f"you predict {wrong!r}") as verdict:
            ex_serving.check_decode_bubble(wrong, p=4, inflight=1)
        assert "0.75" not in str(verdict.value) and "3/4" not in str(verdict.value)
