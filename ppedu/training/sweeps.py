"""Sweeps over the number of micro-batches m, and the granularity-vs-latency model of chapter 3.

    results = sweep_m(TrainConfig(schedule="1f1b", p=4, tf_ms=20, tb_ms=20), [1, 2, 4, 8])
    results = sweep_m(cfg, [1, 2, 4, 8, 16], batch_ms=160)   # fixed batch: t_f = t_b = T/(2m)

Two ways to sweep m, and they answer different questions:
  * fixed micro-batch (default): each micro-batch keeps its t_f, t_b; more m = a bigger batch.
    This is what the bubble formula (p-1)/(m+p-1) is about.
  * fixed batch (``batch_ms`` = T, forward + backward of the whole batch on one stage): each
    micro-batch costs T/m, so more m = smaller kernels and more messages. With a per-message
    latency the step time has a minimum (course/03_micro_batches.md):
        step(m) ~ (m+p-1)(T/m + 2*alpha),  m* ~ sqrt((p-1) T / (2 alpha)).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable, Iterable

from ppedu.training.config import TrainConfig
from ppedu.training.engine import TrainResult, train
from ppedu.errors import UsageError, check_float
from ppedu.i18n.messages import _


def _configs(base: TrainConfig, ms: Iterable[int], batch_ms: float | None) -> list[TrainConfig]:
    """Every point made (each TrainConfig checks its m) before any runs, so a bad m fails at
    once, not halfway. A fixed batch is split m ways: each micro-batch is m times cheaper."""
    ms = list(ms)
    if not ms:
        raise UsageError(_("ms must list at least one number of micro-batches (got none)"))
    return [replace(base, m=m, **({} if batch_ms is None else dict.fromkeys(("tf_ms", "tb_ms"), batch_ms / (2 * m))))
            for m in ms]


def sweep_m(base: TrainConfig, ms: Iterable[int], batch_ms: float | None = None, group=None,
            progress: Callable[[int, int, TrainResult], None] | None = None) -> list[TrainResult]:
    """Run ``base`` once per m in ``ms`` on the warm cluster; ``progress(done, total, result)``
    is called after each point (the widgets drive a progress bar with it)."""
    if batch_ms is not None:
        batch_ms = check_float("batch_ms", batch_ms, 1e-3, 100_000.0)
    configs = _configs(base, ms, batch_ms)
    results = []
    for i, cfg in enumerate(configs):
        results.append(train(cfg, group=group))
        if progress:
            progress(i + 1, len(configs), results[-1])
    return results


def step_time_model(p: int, m: int, batch_s: float, latency_s: float) -> float:
    """(m+p-1)(T/m + 2 alpha): fill/drain plus steady state, one message each way per micro-batch,
    not overlapped with compute (a simplified model: real libraries overlap them)."""
    return (m + p - 1) * (batch_s / m + 2 * latency_s)


def best_m(p: int, batch_s: float, latency_s: float) -> float:
    """The m that minimises ``step_time_model``: sqrt((p-1) T / (2 alpha)) (inf without latency)."""
    if latency_s <= 0:
        return math.inf
    return math.sqrt((p - 1) * batch_s / (2 * latency_s))
