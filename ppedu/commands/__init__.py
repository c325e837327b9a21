"""CLI sub-commands: each module exposes ``add_arguments(parser)`` and ``run(args) -> int``;
``ppedu.cli`` holds their one-line help and dispatches.

    doctor         torch, backends, cores and GPUs
    simulate       a schedule's Gantt chart and bubble, simulated
    validate       a hand-written schedule table, checked
    train          a schedule on real ranks: measured, replayed, theory
    plan           a real model's layout: bytes per GPU, bubble, fits
    compare_tp_pp  tensor vs pipeline parallel on real ranks
    serve_bench    batching policies on a pipeline-parallel server
    serve_sweep    goodput vs arrival rate
    student_copy   the notebooks with solutions stripped
    run_notebook   a notebook run headless with parameters
    grade          a class's notebooks, graded
"""
