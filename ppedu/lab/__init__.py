"""Chapter 6's lab: students write a pipeline step themselves, and it runs on real ranks.

    stage       the Stage ``train_step(stage)`` drives: ppedu's own (``ppedu.training.stage``) plus checks; LabSpec
    job         the rank side: run the shipped function in a fresh process group, return a LabReport, never raise
    reference   the single-process model's per-micro-batch gradients
    diagnose    deadlocks, order differences and gradient bugs in plain words
    grader      ``measure(train_step, ...)`` and ``grade(train_step, schedule, p, m, workload)``
    warmup      exercise 3: 1F1B with another warm-up, measured and simulated

``grade`` at p = 2 also grades on 4 ranks: only there do ranks exist between the first and the
last, where a gradient passed on instead of backward's, or a warm-up right only on rank 0, shows.
"""

from ppedu.lab.grader import Grade, LabResult, grade, measure  # noqa: F401
