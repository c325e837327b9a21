"""Pipeline training on real ranks.

    loops           AFAB, 1F1B, interleaved as plain loops (warm-up, steady, cool-down): the readable step
    config          RunSpec (what every rank needs, its batch) and TrainConfig: checked once; the schedule built once
    stage           Stage: one rank's six calls (+ weight), routed by the schedule, timed on the shared clock
    workloads       what a stage computes: the tiny GPT (ModelWork) or timed waits (TimedWork)
    executor        one rank's step: for each action of its schedule, call the stage -> RankReport
    engine          train(TrainConfig) -> TrainResult: measured timeline, the replay, theory
    calibration     what a real step spends its time on, and the per-step replay that explains it
    frontier        every schedule's bubble, peak memory and messages, measured beside simulated
    sweeps          the same run over a range of m or p (chapters 2-3 plots)
    profiling       cProfile on the ranks, own time in five bins
    torch_baseline  the same model under torch.distributed.pipelining (benchmarks, cross-checks)
"""
