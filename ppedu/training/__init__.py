"""Pipeline training on real ranks.

    loops           AFAB, 1F1B, interleaved as plain loops (warm-up, steady, cool-down): the readable step
    config          TrainConfig: one run's settings, checked once; builds the schedule once
    executor        runs one rank's action list of a schedule (pre-posted receives, tags, timing) -> RankReport
    stages          the executor's two workloads (ModelStage, TimedStage) behind one interface
    engine          train(TrainConfig) -> TrainResult: measured timeline, the replay, theory
    calibration     what a real step spends its time on, and the per-step replay that explains it
    frontier        every schedule's bubble, peak memory and messages, measured beside simulated
    sweeps          the same run over a range of m or p (chapters 2-3 plots)
    profiling       cProfile on the ranks, own time in five bins
    torch_baseline  the same model under torch.distributed.pipelining (benchmarks, cross-checks)
"""
