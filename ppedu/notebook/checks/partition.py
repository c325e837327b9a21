"""Notebook 02, exercise 4: balance the stages of a model whose head is heavy.

    costs = layer_costs()                        # [embedding, block 0..7, head]: FLOPs per micro-batch
    check_partition_choice(bottleneck=1, blocks_on_gpu0=6, costs=costs)
    runs = run_splits({"uniform": 4, "yours": 6}, group)   # both splits measured on 2 real ranks (timed)

The model (``UNBALANCED``) is the course's tiny GPT with an 8192-token vocabulary: its output head
(ln_f + lm_head + loss, on the last stage) costs several transformer blocks, so the uniform split
(4 + 4 blocks) leaves GPU 0 waiting for GPU 1 on every micro-batch. The grader judges the choice
against the analytic FLOP counts (``ppedu.model.partition.flop_costs``): deterministic, where layer
times measured on a shared CPU can be off by 2x for a block. The runs then measure both splits with
the timed workload, each stage waiting as long as its FLOPs would take at a fixed rate.
"""

from __future__ import annotations

from ppedu.model.partition import flop_costs, partition, stage_costs
from ppedu.notebook.grading import OK, grader
from ppedu.notebook.plots import training as plots
from ppedu.training.config import TrainConfig
from ppedu.training.engine import train
from ppedu.i18n.messages import N_, _

# the model whose FLOPs set the stage times: micro-batches of 8 sequences x 64 tokens
UNBALANCED = dict(schedule="gpipe", p=2, m=4, workload="model", n_layer=8, vocab_size=8192,
                  micro_batch_size=8, seq_len=64, steps=2)


def _config(**overrides):
    return TrainConfig(**{**UNBALANCED, **overrides})


def layer_costs() -> list[float]:
    """Forward + backward FLOPs of [embedding, block 0, ..., block 7, head] for one micro-batch."""
    cfg = _config()
    return flop_costs(cfg.model_config(), cfg.micro_batch_size, cfg.seq_len)


def stage_times(blocks_on_gpu0: int, costs: list[float]) -> list[float]:
    """Per-stage cost (same unit as ``costs``) of the two-stage split with ``blocks_on_gpu0`` blocks on GPU 0."""
    n = len(costs) - 2
    return stage_costs([(0, blocks_on_gpu0), (blocks_on_gpu0, n)], costs)


@grader
def check_partition_choice(bottleneck: int, blocks_on_gpu0: int, costs: list[float],
                           tol: float = 0.05) -> None:
    """Is ``bottleneck`` the slower GPU of the uniform split, and does ``blocks_on_gpu0`` make the
    slowest stage (within ``tol``) as fast as the best contiguous split of these ``costs``?"""
    if not isinstance(costs, (list, tuple)) or not 4 <= len(costs) <= 66:
        raise AssertionError(_("costs must be layer_costs(): [embedding, blocks..., head], at least two blocks (got {type} of length {length}).").format(type=type(costs).__name__, length=len(costs) if hasattr(costs, '__len__') else '?'))
    n = len(costs) - 2
    uniform = stage_times(n // 2, costs)
    slow = max(range(2), key=lambda s: uniform[s])
    if bottleneck != slow:
        raise AssertionError(_("With {first} + {second} blocks GPU {slow} is the slower stage ({stage0:.0f} vs {stage1:.0f} MFLOP per micro-batch). Hint: the last stage also runs the output head and the loss.").format(first=n // 2, second=n - n // 2, slow=slow, stage0=uniform[0] / 1e6, stage1=uniform[1] / 1e6))
    if not isinstance(blocks_on_gpu0, int) or not 1 <= blocks_on_gpu0 <= n - 1:
        raise AssertionError(_("blocks_on_gpu0 must be a whole number in 1..{hi} (each stage keeps at least one block); got {blocks_on_gpu0!r}.").format(hi=n - 1, blocks_on_gpu0=blocks_on_gpu0))
    best = best_split(costs)
    stages = stage_times(blocks_on_gpu0, costs)
    got, want = max(stages), max(stage_times(best, costs))
    if got > want * (1 + tol):  # the best split's numbers stay out of the message: they are the answer
        heavy = max(range(2), key=lambda s: stages[s])
        raise AssertionError(_("With {blocks_on_gpu0} + {rest} blocks the stages cost {stage0:.0f} and {stage1:.0f} MFLOP per micro-batch: GPU {heavy} is the slower one, and another split makes the slowest stage faster. Hint: move blocks off the slower stage until the two cost about the same, then check that one block more or less does not do better.").format(blocks_on_gpu0=blocks_on_gpu0, rest=n - blocks_on_gpu0, stage0=stages[0] / 1e6, stage1=stages[1] / 1e6, heavy=heavy))
    print(_("{ok} GPU {slow} is the bottleneck of the uniform split ({max:.0f} MFLOP per micro-batch); {blocks_on_gpu0} + {rest} blocks bring the slowest stage to {got:.0f} MFLOP (best split: {best} blocks on GPU 0).").format(ok=OK, slow=slow, max=max(uniform) / 1000000.0, blocks_on_gpu0=blocks_on_gpu0, rest=n - blocks_on_gpu0, got=got / 1e6, best=best))


def run_splits(splits: dict[str, int], group, forward_ms: float = 20.0) -> dict:
    """Run GPipe on ``group`` (2 ranks) once per ``{name: blocks_on_gpu0}``; TrainResults.

    The timed workload, each stage waiting in proportion to its FLOPs (``layer_costs``), as a GPU
    running at a fixed FLOP rate would: an average stage's forward takes ``forward_ms``, every
    backward twice its forward (two matmuls per forward matmul). Sleeps are faithful on a busy
    CPU, where the tiny GPT's real compute is dominated by other programs' load."""
    costs = layer_costs()
    out = {}
    for name, k in splits.items():
        stage = stage_times(k, costs)
        scale = [c / (sum(stage) / len(stage)) for c in stage]
        out[name] = train(TrainConfig(schedule="gpipe", p=2, m=UNBALANCED["m"], workload="timed",
                                      tf_ms=forward_ms, tb_ms=2 * forward_ms, stage_scale=scale),
                          group=group)
    return out


def best_split(costs: list[float]) -> int:
    """Blocks on GPU 0 of the contiguous two-stage split with the fastest slowest stage."""
    return partition(_config().model_config(), 2, "balanced", layer_costs=costs).boundaries[0][1]


def partition_figure(runs: dict, splits: dict[str, int]):
    """Busy time of each GPU and the step time, one bar group per split (``run_splits(splits)``)."""
    n = UNBALANCED["n_layer"]
    names = [_("{split}: blocks [{a}, {b}]").format(split=_(k) if k in _SPLITS else k, a=splits[k], b=n - splits[k])
             for k in runs]
    series = {_("GPU {i} busy").format(i=i): [r.per_rank[i].busy_s * 1e3 for r in runs.values()] for i in range(2)}
    series[_("step (same timeline)")] = [r.timeline.makespan * 1e3 for r in runs.values()]
    return plots.bar_chart(names, series, title=_("Uniform vs balanced split, p=2"),
                           x_title=_("partition (blocks per stage)"), y_title=_("time (ms)"), text_format=".0f")


_SPLITS = (N_("uniform"), N_("balanced"))   # the notebook's names of its two splits
