"""Pipeline training on real ranks.

    loops           AFAB, 1F1B, interleaved as plain loops (warm-up, steady, cool-down): the readable step
    executor        runs one rank's action list of a schedule (pre-posted receives, tags, timing)
    engine          TrainConfig -> train() -> TrainResult: measured timeline, theory, simulation
    sweeps          the same run over a range of m or p (chapters 2-3 plots)
    torch_baseline  the same model under torch.distributed.pipelining (benchmarks, cross-checks)
"""
