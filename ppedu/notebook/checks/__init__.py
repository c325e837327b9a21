"""The exercise checkers: each prints a ✓ line or raises an AssertionError with a hint
(``ppedu.notebook.grading.grader``).

    schedules             bubble formulas (00, 02), a rank's order (04), choosing m (03)
    order_mistakes        the mistake in a hand-written rank order, in words (04)
    seed_table            02's repaired seed table (micro-batches 1-4)
    partition             02's stage-balancing exercise
    tp                    chapter 1: which of TP and PP moves more bytes
    serving               chapter 5: the batching policy, the decode bubble (also 02)
    lab                   chapter 6: the warm-up prediction and the verdict
"""
