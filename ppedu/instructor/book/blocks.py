"""The generators of the book's computed blocks (``ppedu.instructor.book.tables``): one small function
per kind of derived number or table, each calling the ``ppedu`` function that owns the formula
(``ppedu.schedules.theory``, the simulator, ``ppedu.serving``), or, for a command's output shown
in the book, the command itself (``command_output``). Nothing here is a formula of its own: only
formatting. The planner's generators (bytes and parameters of real models) are in
``ppedu.instructor.book.sizes``, which registers them in the same ``GENERATORS``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable

from ppedu.i18n import catalog
from ppedu.instructor.book.check import run_cli
from ppedu.planner.plan import floor_split_layers, stage_layers
from ppedu.schedules import theory
from ppedu.schedules import build_schedule
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.serving import studies
from ppedu.serving.blocks import PUBLISHED_TOKEN_SHARE, token_share_gain
from ppedu.serving.cost import ServingCost, inflight_gain
from ppedu.training import frontier

GENERATORS: dict[str, Callable[..., str]] = {}


def generator(fn: Callable[..., str]) -> Callable[..., str]:
    GENERATORS[fn.__name__] = fn
    return fn


def _bubble(schedule: str, p: int, m: int, v: int = 1) -> float:
    value = theory.theory_bubble(schedule, p, m, v)
    if value is None:
        raise ValueError(f"no closed-form bubble for {schedule} p={p} m={m} v={v}")
    return value


def _percent(x: float, digits: int) -> str:
    return f"{100 * x:.{digits}f} %"


# ---- schedules: bubbles, makespans, peaks, timetables ---------------------------------------------

@generator
def share(schedule: str, p: int, m: int, v: int = 1, digits: int = 3) -> str:
    """Idle share of the step, e.g. ``0.273``."""
    return f"{_bubble(schedule, p, m, v):.{digits}f}"


@generator
def percent(schedule: str, p: int, m: int, v: int = 1, digits: int = 1) -> str:
    """Idle share as a percentage, e.g. ``15.8 %``."""
    return _percent(_bubble(schedule, p, m, v), digits)


@generator
def share_expr(p: int, m: int, digits: int = 3, pct: bool = False) -> str:
    """GPipe's idle share written out, e.g. ``$3/(32+3) = 0.086$`` or ``$7/71 = 9.9\\,\\%$``."""
    value = theory.bubble_gpipe(p, m)
    if pct:
        return f"${p - 1}/{m + p - 1} = {100 * value:.{digits}f}\\,\\%$"
    return f"${p - 1}/({m}+{p - 1}) = {value:.{digits}f}$"


@generator
def naive_percent(p: int, digits: int = 0) -> str:
    """The naive pipeline's idle share (p-1)/p, e.g. ``75 %``."""
    return _percent(theory.bubble_naive(p), digits)


@generator
def makespan(p: int, m: int, tf: float = 1, tb: float = 1, expr: bool = False) -> str:
    """The shortest GPipe/1F1B step, ``14`` or ``$(m+p-1)(t_f+t_b) = 7 \\cdot 2 = 14$``."""
    value = theory.min_makespan(p, m, tf, tb)
    if expr:
        return f"$(m+p-1)(t_f+t_b) = {m + p - 1} \\cdot {tf + tb:g} = {value:g}$"
    return f"{value:g}"


@generator
def simulated(schedule: str, p: int, m: int, what: str, tf: float = 1, tb: float = 1, tw: float = 0,
              v: int = 1, digits: int = 3) -> str:
    """A simulated ``makespan`` (units) or ``bubble`` (``digits`` digits) of ``schedule`` at the
    given costs (``tw`` only counts for schedules that split the backward)."""
    result = simulate(build_schedule(schedule, p, m, v), CostModel(t_f=tf, t_b=tb, t_w=tw))
    return f"{result.makespan:g}" if what == "makespan" else f"{result.bubble_fraction:.{digits}f}"


@generator
def event_start(schedule: str, p: int, m: int, kind: str, rank: int, mb: int = 0, tf: float = 1,
                tb: float = 1) -> str:
    """When ``rank`` starts its ``kind`` (F or B) of micro-batch ``mb`` (from 0) in the simulated step."""
    timeline = simulate(build_schedule(schedule, p, m), CostModel(t_f=tf, t_b=tb)).timeline
    (start,) = [e.start for e in timeline.events if (e.rank, e.kind, e.mb) == (rank, kind, mb)]
    return f"{start:g}"


@generator
def makespan_ratio(schedule: str, p: int, m: int, tb: float, base_tb: float = 1) -> str:
    """How much longer a simulated step gets when the backward costs ``tb`` instead of ``base_tb``."""
    steps = [simulate(build_schedule(schedule, p, m), CostModel(t_f=1, t_b=b)).makespan for b in (tb, base_tb)]
    return f"{steps[0] / steps[1]:g}×"


@generator
def peak(schedule: str, p: int, m: int, rank: int = 0, v: int = 1, scale: float = 1) -> str:
    """Micro-batches ``rank`` holds at its peak (times ``scale``, e.g. GB per micro-batch)."""
    return f"{theory.peak_activations(schedule, p, m, rank, v) * scale:g}"


@generator
def grid(schedule: str, p: int, m: int, tf: float = 1, tb: float = 1) -> str:
    """A simulated timetable, one column per unit of time: ``GPU0  F1 F2 .`` (micro-batches from 1)."""
    timeline = simulate(build_schedule(schedule, p, m), CostModel(t_f=tf, t_b=tb)).timeline
    slots = int(round(timeline.makespan))
    cells = [["."] * slots for _ in range(p)]
    for e in timeline.events:
        if e.kind in ("F", "B"):
            for t in range(int(round(e.start)), int(round(e.end))):
                cells[e.rank][t] = e.kind + (str(e.mb + 1) if m > 1 else "")
    width = max([2] + [len(c) for row in cells for c in row]) + 1
    head = "t    " + "".join(str(t).rjust(width - 1) + " " for t in range(slots))
    rows = [f"GPU{r}  " + "".join(c.ljust(width) for c in cells[r]) for r in range(p)]
    return "\n".join(["```text", head.rstrip(), *(row.rstrip() for row in rows), "```"])


@generator
def gantt_table(schedule: str, p: int, m: int) -> str:
    """The simulated timetable as the Markdown table the validator reads, written as textbooks do
    (``F_1``: micro-batches from 1)."""
    timeline = simulate(build_schedule(schedule, p, m), CostModel(t_f=1, t_b=1)).timeline
    table = re.sub(r"\b([FBW])(\d+) ", r"\1_\2", timeline.text_gantt(unit=1.0, mb_base=1))
    return "```text\n" + table + "\n```"


@generator
def idle_share_table(p: int, ms: list[int]) -> str:
    """Chapter 3: idle share and Playbook ratio for each m at one p."""
    head = "| $m$ | " + " | ".join(str(m) for m in ms) + " |"
    rule = "|---|" + "---|" * len(ms)
    idle = "| idle share $(p-1)/(m+p-1)$ | " + " | ".join(f"{theory.bubble_gpipe(p, m):.3f}" for m in ms) + " |"
    ratio = "| Playbook ratio $(p-1)/m$ | " + " | ".join(
        f"{theory.bubble_ratio_playbook(p, m):.3f}" for m in ms) + " |"
    return "\n".join([head, rule, idle, ratio])


@generator
def expected_table(rows: list[list[int]], v: int = 2) -> str:
    """The instructor's guide: idle shares and rank 0's peaks for each (p, m)."""
    lines = ["| $p$ | $m$ | GPipe / 1F1B idle share $(p-1)/(m+p-1)$ | interleaved $v=2$ "
             "| peak activations rank 0, GPipe / 1F1B |", "|---|---|---|---|---|"]
    for p, m in rows:
        naive = m == 1
        idle = f"{_bubble('naive' if naive else 'gpipe', p, m):.3f}" + (" (naive)" if naive else "")
        inter = "—" if m < p else f"{_bubble('interleaved', p, m, v):.3f}"
        peaks = f"{theory.peak_activations('gpipe', p, m)} / {theory.peak_activations('1f1b', p, m)}"
        lines.append(f"| {p} | {m} | {idle} | {inter} | {peaks} |")
    return "\n".join(lines)


def _series(values: list[str], sep: str, last: str) -> str:
    """``a, b and c``: ``sep`` and ``last`` are the words (the Chinese book passes ``、`` and ``和``)."""
    return sep.join(values[:-1]) + last + values[-1] if len(values) > 1 else values[0]


@generator
def chunk_layers(layers: int, p: int, v: int, rank: int = 0, sep: str = ", ", last: str = " and ") -> str:
    """Layers (from 1) of ``rank``'s chunks under Megatron's loop placement, e.g. ``1–6 and 25–30``."""
    per_stage = stage_layers(layers, p * v)
    spans = []
    for chunk in range(v):
        stage = chunk * p + rank
        first = sum(per_stage[:stage]) + 1
        spans.append(f"{first}–{first + per_stage[stage] - 1}")
    return _series(spans, sep, last)


@generator
def floor_split_ranges(layers: int, p: int, sep: str = ", ") -> str:
    """The ``layers // p`` split's layer ranges (from 0; ``floor_split_layers``), e.g. seed 001's
    ``0–7, 8–15, 16–23, 24–31`` for 32 layers on 4 GPUs."""
    return sep.join(f"{r.start}–{r.stop - 1}" for r in floor_split_layers(layers, p))


@generator
def unplaced_layers(layers: int, p: int, sep: str = ", ", last: str = " and ") -> str:
    """Layers (from 0) no rank runs under the ``layers // p`` split (``floor_split_layers``, seed
    001's ``layers_per_rank``), e.g. ``28 and 29``; ``stage_layers`` places every one."""
    placed = {layer for ranks in floor_split_layers(layers, p) for layer in ranks}
    if sum(stage_layers(layers, p)) != layers or len(placed) == layers:
        raise ValueError(f"{layers} layers on {p} stages: the floor split drops no layer")
    return _series([str(layer) for layer in range(layers) if layer not in placed], sep, last)


@generator
def first_rank_factor(p: int, m: int, v: int, digits: int = 2) -> str:
    """Interleaved 1F1B's first-rank activations over plain 1F1B's (micro-batches' worth), i.e.
    Korthikanti et al.'s 1 + (p-1)/(pv) as the schedule's warm-up gives it."""
    ratio = theory.peak_activations("interleaved", p, m, v=v) / v / theory.peak_activations("1f1b", p, m)
    return f"{ratio:.{digits}f}"


# ---- chapter 1 and chapter 5: messages, serving costs ---------------------------------------------

@generator
def tp_pp(layers: int, n: int, what: str) -> str:
    """Per step, TP vs PP over ``n`` ranks (``predict_comm_time``): ``tp_ops``, ``pp_ops``,
    ``ops_ratio`` or ``bytes_ratio`` (on the wire)."""
    # torch: the one block that needs the model; the rest of the book's tables runs without it
    from ppedu.model.gpt import GPTConfig
    from ppedu.tensor_parallel.compare import predict_comm_time  # torch, as above
    c = predict_comm_time(GPTConfig(n_layer=layers), n)
    value = {"tp_ops": c.tp.messages, "pp_ops": c.pp.messages, "ops_ratio": c.tp.messages / c.pp.messages,
             "bytes_ratio": c.tp.bytes / c.pp.bytes}[what]
    return f"{value:g}"


@generator
def serving_cost(what: str, p: int = 2, slowdown: float = 1.0) -> str:
    """Chapter 5's step cost t0 + c n (``ppedu.serving.cost``): ``t0_ms``, ``c_us``, ``c_ms``,
    ``crossover`` (tokens) or ``x`` at ``what='x:B'`` (c B / t0 for a decode batch of B)."""
    cost = ServingCost.for_gpu(p=p, slowdown=slowdown)
    if what.startswith("x:"):
        return f"{cost.c_s * int(what[2:]) / cost.t0_s:.1f}"
    value = {"t0_ms": (cost.t0_s * 1e3, 1), "c_us": (cost.c_s * 1e6, 0), "c_ms": (cost.c_s * 1e3, 2),
             "crossover": (cost.crossover_tokens, 0)}[what]
    return f"{value[0]:.{value[1]}f}"


@generator
def inflight_gains(k: int, xs: list[float], sep: str = ", ", last: str = " and ") -> str:
    """(1 + K x)/(1 + x) for each x, e.g. ``1, 1.5 and 1.75``."""
    return _series([f"{inflight_gain(k, x):.3g}" for x in xs], sep, last)


@generator
def kv_token_gain(digits: int = 1, sep: str = "–") -> str:
    """vLLM's share of KV memory holding tokens over the earlier systems' (its Fig. 2), lowest to
    highest gain (``ppedu.serving.blocks.token_share_gain``), e.g. ``2.5–4.7``."""
    shares = PUBLISHED_TOKEN_SHARE
    gains = sorted(token_share_gain(shares["vLLM"], s) for name, s in shares.items() if name != "vLLM")
    return f"{gains[0]:.{digits}f}{sep}{gains[-1]:.{digits}f}"


@generator
def length_gains(sigmas: list[float], what: str = "gain", p: int = 2, sep: str = ", ",
                 last: str = " and ") -> str:
    """Chapter 5: continuous / static throughput as lognormal output lengths spread, from the
    simulator with the step cost alone (``studies.length_variance``, messages free), or the
    workload's coefficient of variation (``what='cv'``)."""
    cost = replace(studies.QUICK, t_hop_s=0.0, t_return_s=0.0)
    rows = studies.length_variance(sigmas, p, cost=cost, simulate=True)
    values = [f"{getattr(r, what):.2f}" if getattr(r, what) else "0" for r in rows]
    return _series(values, sep, last)


@generator
def costs_table(p: int = 4, m: int = 8) -> str:
    """Chapter 4's schedules under equal and the paper's unequal costs, with the split-backward floor
    (``ppedu.training.frontier.costs_table``)."""
    return frontier.costs_table(p, m)


# ---- a command's output as the book shows it -----------------------------------------------------

@generator
def command_output(command: str, elide: str = "|", lang: str = "en") -> str:
    """A fenced block: ``ppedu command`` and what it prints in ``lang`` (the page's language), each
    run of lines starting with ``elide`` (a timetable) shortened to ``...``."""
    with catalog.speaking(lang):
        status, out = run_cli(command)
    if status != 0:
        raise ValueError(f"ppedu {command} exited {status}")
    lines: list[str] = []
    for line in out.rstrip("\n").splitlines():
        if not (elide and line.startswith(elide)):
            lines.append(line.rstrip())
        elif lines[-1:] != ["..."]:
            lines.append("...")
    return "\n".join(["```text", f"ppedu {command}", *lines, "```"])
