"""The book's figures, measured: every chart in course/ comes from a real run made here.

    python -m ppedu.instructor.book.figures course        # writes course/_figures/*.html, course/_static/
    jupyter-book build course                            # the pages include those files

Why plotly HTML and not PNG: a static image needs a renderer (kaleido or a browser) that an
offline install does not have; plotly already renders in the browser. Each figure is written as
an HTML fragment (``<figure>`` with the plot's ``<div>`` and a caption naming the command that
made it), and ``plotly.min.js`` is copied from the installed plotly package into the book's
``_static/`` folder, which Jupyter Book adds to every page. Nothing is fetched from a CDN.

Every figure is measured on warm local ranks (``ppedu.runtime.cluster.Cluster``) with the timed
workload (each action lasts a fixed time, like a GPU kernel, so bubbles are faithful on a busy
CPU) unless its caption says ``--workload model`` (the tiny GPT, real compute). Sizes are small
(p <= 4, m <= 16, a few ms per action) so all of them are made in well under a minute.
"""

from __future__ import annotations

import html
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import plotly.graph_objects as go

from ppedu.model.gpt import GPTConfig
from ppedu.notebook.checks.partition import UNBALANCED, best_split, layer_costs, partition_figure, run_splits
from ppedu.notebook.plots import training as plots
from ppedu.notebook.plots.frontier import frontier as frontier_figure
from ppedu.notebook.plots.serving import policy_comparison
from ppedu.runtime.cluster import Cluster
from ppedu.serving.cost import ServingCost
from ppedu.serving.scheduler import BatchingConfig
from ppedu.serving.server import serve
from ppedu.serving.workload import make_workload
from ppedu.tensor_parallel.compare import compare_tp_pp
from ppedu.training.config import TrainConfig
from ppedu.training.engine import train
from ppedu.training.frontier import UNEQUAL, frontier as measure_frontier
from ppedu.training.sweeps import best_m, step_time_model, sweep_m

TF_MS = 6.0   # ms per forward (and per backward) of one rank's share: small, still >> the clock noise


@dataclass(frozen=True)
class BookFigure:
    """One figure: the file it is written to, the page that includes it, and how it was made."""
    name: str                     # course/_figures/<name>.html
    page: str                     # the course page that includes it
    caption: str                  # what it shows (one sentence)
    command: str                  # the command that makes the same measurement
    make: Callable[[dict], go.Figure]   # clusters -> figure


def _train(clusters: dict, **kw):
    cfg = TrainConfig(**{"tf_ms": TF_MS, "tb_ms": TF_MS, **kw})
    return train(cfg, group=clusters[cfg.p])


def _cmd(schedule: str, p: int, m: int, extra: str = "") -> str:
    return (f"ppedu train --schedule {schedule} -p {p} -m {m} --workload timed "
            f"--tf {TF_MS:g} --tb {TF_MS:g}{extra}")


# ---- chapter 1: TP vs PP -------------------------------------------------------------------------

def _tp_vs_pp(clusters: dict) -> go.Figure:
    rows = {lat: compare_tp_pp(2, GPTConfig(n_layer=4, n_embd=64, n_head=4), batch=8, seq=32,
                               latency_ms=lat, repeats=2, group=clusters[2]) for lat in (0.0, 2.0)}
    names = [f"link latency {lat:g} ms" for lat in rows]
    return plots.bar_chart(names, {"tensor parallel (TP=2)": [r.tp.step_time_s * 1e3 for r in rows.values()],
                                   "pipeline parallel (PP=2)": [r.pp.step_time_s * 1e3 for r in rows.values()]},
                           title="TP vs PP on 2 ranks: step time", x_title="emulated link",
                           y_title="step time (ms)", text_format=".0f")


# ---- chapter 2: bubbles --------------------------------------------------------------------------

def _naive(clusters: dict) -> go.Figure:
    r = _train(clusters, schedule="naive", p=4, m=1)
    return plots.gantt_pair(r.timeline, r.simulated,
                            title=f"Naive, p=4, m=1: bubble {r.measured_bubble_fraction:.0%} (theory 75%)")


def _partition(clusters: dict) -> go.Figure:
    splits = {"uniform": UNBALANCED["n_layer"] // 2, "balanced": best_split(layer_costs())}
    return partition_figure(run_splits(splits, clusters[2]), splits)


# ---- chapter 3: micro-batches --------------------------------------------------------------------

def _gpipe(clusters: dict) -> go.Figure:
    r = _train(clusters, schedule="gpipe", p=4, m=8)
    return plots.gantt_pair(r.timeline, r.simulated,
                            title=f"GPipe, p=4, m=8: bubble {r.measured_bubble_fraction:.1%} (theory 27.3%)")


def _bubble_vs_m(clusters: dict) -> go.Figure:
    pts = sweep_m(TrainConfig(schedule="gpipe", p=4, tf_ms=TF_MS / 2, tb_ms=TF_MS / 2), [1, 2, 4, 8, 16],
                  group=clusters[4])
    return plots.bubble_vs_m(pts, p=4, schedule="gpipe",
                             title="GPipe p=4: measured bubble vs m")


def _step_vs_m(clusters: dict) -> go.Figure:
    batch_ms, lat_ms, ms = 96.0, 2.0, [1, 2, 4, 8, 16]
    pts = sweep_m(TrainConfig(schedule="gpipe", p=4, latency_ms=lat_ms), ms, batch_ms=batch_ms,
                  group=clusters[4])
    model = {m: step_time_model(4, m, batch_ms / 1e3, lat_ms / 1e3) for m in ms}
    return plots.step_time_vs_m(pts, model, best_m(4, batch_ms / 1e3, lat_ms / 1e3),
                                title="Fixed batch, 2 ms per message: step time vs m")


def _memory(clusters: dict) -> go.Figure:
    runs = {f"{s} m=8": _train(clusters, schedule=s, p=2, m=8, workload="model") for s in ("gpipe", "1f1b")}
    return plots.activation_memory(runs, title="Peak saved activations, p=2, m=8")


# ---- chapter 4: 1F1B and its descendants ---------------------------------------------------------

def _gantt(schedule: str, v: int = 1, tw: float = 0.0) -> Callable[[dict], go.Figure]:
    def make(clusters: dict) -> go.Figure:
        r = _train(clusters, schedule=schedule, p=4, m=8, v=v, tw_ms=tw)
        return plots.gantt_pair(r.timeline, r.simulated,
                                title=f"{schedule}{f' v={v}' if v > 1 else ''}, p=4, m=8: bubble "
                                      f"{r.measured_bubble_fraction:.1%} (sim. {r.simulated_bubble_fraction:.1%})")
    return make


def _schedules(clusters: dict) -> go.Figure:
    runs = {"gpipe": _train(clusters, schedule="gpipe", p=4, m=8),
            "1f1b": _train(clusters, schedule="1f1b", p=4, m=8),
            "interleaved v=2": _train(clusters, schedule="interleaved", p=4, m=8, v=2),
            "zb1 (T_W = T_B)": _train(clusters, schedule="zb1", p=4, m=8, tb_ms=TF_MS, tw_ms=TF_MS)}
    return plots.schedule_comparison(runs, title="Bubble by schedule, p=4, m=8")


def _frontier(clusters: dict, costs: tuple = (1.0, 1.0, 1.0)) -> go.Figure:
    return frontier_figure(measure_frontier(4, 8, FRONTIER_MS, group=clusters[4], costs=costs), with_table=True)


def _frontier_unequal(clusters: dict) -> go.Figure:
    return _frontier(clusters, UNEQUAL)


FRONTIER_MS = 15.0  # ms per F, B and W: chunk actions of 7.5 ms stay well above per-action overhead


# ---- chapter 5: serving --------------------------------------------------------------------------

def _serving(clusters: dict) -> go.Figure:
    requests = make_workload(16, output_len=8, prompt_len=4, seed=0)
    cost = ServingCost(t0_s=0.004, c_s=0.0005)
    runs = {policy: serve(requests, BatchingConfig(policy, 4, 2), 2, workload="timed", cost=cost,
                          group=clusters[2]) for policy in ("static", "continuous")}
    return policy_comparison(runs, title="Static vs continuous, p=2, K=2")


SERVE_CMD = ("ppedu serve-bench --policy {static,continuous} -p 2 --inflight 2 --max-batch 4 "
             "--requests 16 --output-len 8 --t0-ms 4 --c-ms 0.5")

FIGURES: tuple[BookFigure, ...] = (
    BookFigure("ch1_tp_vs_pp", "01_tp_vs_pp",
               "TP pays four all-reduces per layer (two forward, two backward) on the critical path; "
               "PP one message per stage boundary and direction. With an emulated 2 ms link, TP's "
               "step grows more than PP's.",
               "ppedu compare-tp-pp -n 2 --latency-ms {0,2}", _tp_vs_pp),
    BookFigure("ch2_naive", "02_bubbles",
               "The naive pipeline on four ranks: one rank works at a time.", _cmd("naive", 4, 1), _naive),
    BookFigure("ch2_partition", "02_bubbles",
               "Per-rank busy time and step time of a GPT whose head (8192-token vocabulary) costs "
               "about nine blocks, split uniformly and by a min-max split of its FLOPs; timed workload, "
               "each stage waiting in proportion to its FLOPs. The pipeline runs at the pace of its "
               "busier rank.",
               "notebook 02, exercise 4: run_splits({'uniform': 4, 'balanced': best_split(layer_costs())}) "
               "from ppedu.notebook.checks.partition",
               _partition),
    BookFigure("ch3_gpipe", "03_micro_batches",
               "GPipe with eight micro-batches: the fill and drain triangles are the bubble.",
               _cmd("gpipe", 4, 8), _gpipe),
    BookFigure("ch3_bubble_vs_m", "03_micro_batches",
               "The measured bubble falls on (p-1)/(m+p-1) as m grows (fixed micro-batch cost).",
               "ppedu train --schedule gpipe -p 4 -m {1,2,4,8,16} --workload timed --tf 3 --tb 3", _bubble_vs_m),
    BookFigure("ch3_step_vs_m", "03_micro_batches",
               "With a fixed batch, more micro-batches shrink the bubble but pay a latency per message: "
               "the step time has a minimum.",
               "ppedu train --schedule gpipe -p 4 -m {1,...,16} --tf 48/m --tb 48/m --latency-ms 2",
               _step_vs_m),
    BookFigure("ch3_memory", "03_micro_batches",
               "GPipe keeps all m micro-batches' activations until the backward; 1F1B at most p on "
               "the first rank (bytes that autograd saves, counted by saved-tensor hooks on each rank).",
               "ppedu train --schedule {gpipe,1f1b} -p 2 -m 8 --workload model", _memory),
    BookFigure("ch4_1f1b", "04_1f1b", "1F1B: same bubble as GPipe, fewer micro-batches in flight.",
               _cmd("1f1b", 4, 8), _gantt("1f1b")),
    BookFigure("ch4_interleaved", "04_1f1b",
               "Interleaved 1F1B with v=2 chunks per rank (hatched: chunk 1): the bubble shrinks by v.",
               _cmd("interleaved", 4, 8, " --v 2"), _gantt("interleaved", v=2)),
    BookFigure("ch4_zb1", "04_1f1b",
               "ZB-H1: the weight-gradient W (green) fills the cool-down bubble.",
               _cmd("zb1", 4, 8, f" --tw {TF_MS:g}"), _gantt("zb1", tw=TF_MS)),
    BookFigure("ch4_schedules", "04_1f1b", "The four schedules measured side by side.",
               "ppedu train --schedule {gpipe,1f1b,interleaved,zb1} -p 4 -m 8 --workload timed", _schedules),
    BookFigure("ch4_frontier", "04_1f1b",
               "Every schedule at p=4, m=8 with T_F = T_B = T_W: bubble (from the ranks' recorded "
               "timelines) against peak activations held (from the same timelines, in micro-batches' "
               "worth of one rank's layers) and against point-to-point messages per step (the ranks' "
               "P2P counters), each beside the simulator fed the measured per-message latency.",
               "ppedu train --schedule {gpipe,1f1b,interleaved,looped-bfs,zb1,zb2,interleaved-zb,zbv,"
               "dualpipev} -p 4 -m 8 --workload timed --tf 15 --tb 15 --tw 15 (ppedu.training.frontier)",
               _frontier),
    BookFigure("ch4_frontier_unequal", "04_1f1b",
               "The same frontier with the Zero Bubble paper's ordering T_W < T_F < T_B "
               f"(T_F : T_B : T_W = {' : '.join(f'{c:g}' for c in UNEQUAL)}, the same total per "
               "micro-batch): ZB-H1's handcrafted order slows down, and ZB-H2, ordered for these "
               "costs, now runs a shorter step than ZB-H1.",
               "ppedu train --schedule {gpipe,1f1b,interleaved,looped-bfs,zb1,zb2,interleaved-zb,zbv,"
               "dualpipev} -p 4 -m 8 --workload timed "
               + " ".join(f"--{k} {FRONTIER_MS * c:g}" for k, c in zip(("tf", "tb", "tw"), UNEQUAL))
               + " (ppedu.training.frontier, costs=UNEQUAL)",
               _frontier_unequal),
    BookFigure("ch5_policies", "05_continuous_batching",
               "Continuous batching refills a slot when a request finishes; static batching waits for "
               "the longest request of the batch.", SERVE_CMD, _serving),
)


def figure_html(spec: BookFigure, fig: go.Figure) -> str:
    """An HTML fragment: the plot (plotly.js loaded once per page from _static) and its caption."""
    plot = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{spec.name}",
                       config={"displaylogo": False, "responsive": True})
    return (f'<figure class="ppedu-figure" id="figure-{spec.name}">\n{plot}\n<figcaption>'
            f'{html.escape(spec.caption)} Measured by: <code>{html.escape(spec.command)}</code> '
            f'(made by <code>ppedu.instructor.book.figures</code>).</figcaption>\n</figure>\n')


def build(course_dir: str | Path, only: list[str] | None = None) -> list[Path]:
    """Measure and write every figure (or those named in ``only``) under ``course_dir/_figures``."""
    course = Path(course_dir)
    out_dir, static = course / "_figures", course / "_static"
    out_dir.mkdir(exist_ok=True)
    static.mkdir(exist_ok=True)
    plotly_js = Path(go.__file__).parents[1] / "package_data" / "plotly.min.js"
    shutil.copyfile(plotly_js, static / "plotly.min.js")
    specs = [f for f in FIGURES if only is None or f.name in only]
    written = []
    for size in (4, 2):   # one warm cluster at a time: a 2-core laptop never runs both
        todo = [f for f in specs if _sizes(f) == size]
        if not todo:
            continue
        with Cluster(size) as cluster:
            for spec in todo:
                path = out_dir / f"{spec.name}.html"
                path.write_text(figure_html(spec, spec.make({size: cluster})), encoding="utf-8")
                written.append(path)
    return written


def _sizes(spec: BookFigure) -> int:
    """The world size a figure's runs need (each figure uses one)."""
    return 2 if any(s in spec.command for s in (" -p 2", " -n 2", "exercise 4")) else 4


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m ppedu.instructor.book.figures COURSE_DIR [FIGURE ...]", file=sys.stderr)
        return 2
    for path in build(args[0], args[1:] or None):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
