"""The course figures: titles, axis titles with units, one row per rank, the numbers they draw.

Timelines come from the simulator (no cluster needed), so every expected number is computed
independently of the plotting code: event counts, makespans, closed-form bubbles.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ppedu.notebook.plots import training as plots
from ppedu.errors import UsageError
from ppedu.schedules import build_schedule
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.schedules.theory import theory_bubble
from ppedu.schedules.timeline import Event, Timeline


def sim(schedule: str, p: int, m: int, v: int = 1, tf: float = 0.01) -> Timeline:
    return simulate(build_schedule(schedule, p, m, v), CostModel(t_f=tf, t_b=tf)).timeline


def bars(fig, kind: str, xaxis: str = "x") -> list[tuple[str, float, float]]:
    """(row label, start, end) of every bar of ``kind`` on one subplot."""
    out = []
    for t in fig.data:
        if t.type == "bar" and t.legendgroup == kind and (t.xaxis or "x") == xaxis:
            out += [(y, b, b + x) for y, b, x in zip(t.y, t.base, t.x)]
    return out


def fake_result(schedule: str, m: int, peaks: list[int], per_mb: int, bubble: float,
                v: int = 1):
    """What the plots read from a TrainResult, without running one."""
    per_rank = [SimpleNamespace(rank=r, peak_activation_bytes=k * per_mb, peak_inflight_microbatches=k)
                for r, k in enumerate(peaks)]
    return SimpleNamespace(config=SimpleNamespace(schedule=schedule, m=m, v=v, p=len(peaks)),
                           per_rank=per_rank, measured_bubble_fraction=bubble,
                           theory_bubble_fraction=theory_bubble(schedule, len(peaks), m, v),
                           simulated_bubble_fraction=bubble, step_time_s=0.1)


def test_gantt_has_one_row_per_rank_and_every_action_in_ms() -> None:
    timeline = sim("1f1b", 4, 8)
    fig = plots.gantt(timeline, "1F1B p=4 m=8")
    assert fig.layout.title.text == "1F1B p=4 m=8"
    assert "(ms)" in fig.layout.xaxis.title.text and fig.layout.yaxis.title.text == "rank"
    assert list(fig.layout.yaxis.categoryarray) == [f"GPU {r}" for r in range(4)]
    for kind in ("F", "B"):
        drawn = bars(fig, kind)
        assert len(drawn) == 4 * 8, f"every {kind} of every rank is one bar"
        assert {y for y, _, _ in drawn} == {f"GPU {r}" for r in range(4)}
    end = max(e for kind in ("F", "B") for _, _, e in bars(fig, kind))
    assert end == pytest.approx(timeline.makespan * 1e3)
    # one trace per (rank, kind); each kind appears once in the legend
    assert len(fig.data) == 4 * 2
    assert sorted(t.name for t in fig.data if t.showlegend) == ["B backward", "F forward"]
    labels = {txt for t in fig.data for txt in t.text}
    assert {"F0", "B7"} <= labels


def test_gantt_draws_message_waits_faint_and_unlabelled() -> None:
    events = [Event(0, "F", 0, 0, 0.0, 0.01), Event(1, "recv", 0, 0, 0.0, 0.01),
              Event(1, "F", 0, 0, 0.01, 0.02)]
    fig = plots.gantt(Timeline(events, 2), "waits")
    recv = [t for t in fig.data if t.legendgroup == "recv"]
    compute = [t for t in fig.data if t.legendgroup == "F"]
    assert len(recv) == 1 and recv[0].text is None
    assert recv[0].marker.opacity < 0.5 <= compute[0].marker.opacity
    assert recv[0].width < compute[0].width


def test_gantt_in_units_and_bad_unit() -> None:
    fig = plots.gantt(sim("gpipe", 2, 2, tf=1.0), "units", unit="units")
    assert "units" in fig.layout.xaxis.title.text
    assert max(e for _, _, e in bars(fig, "B")) == pytest.approx(6.0)  # (m+p-1)(tf+tb)
    with pytest.raises(UsageError, match="unit must be one of"):
        plots.gantt(sim("gpipe", 2, 2), "x", unit="seconds")


def test_gantt_pair_shares_the_time_axis() -> None:
    short, long = sim("1f1b", 2, 4, tf=0.01), sim("1f1b", 2, 4, tf=0.02)
    fig = plots.gantt_pair(short, long, "pair")
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:2] == ["measured (recorded by the ranks)", "simulated (the step replayed from its measured parts)"]
    assert fig.layout.xaxis.range == fig.layout.xaxis2.range
    assert fig.layout.xaxis2.range[1] >= long.makespan * 1e3
    assert len(bars(fig, "F", "x")) == len(bars(fig, "F", "x2")) == 2 * 4
    assert "(ms)" in fig.layout.xaxis2.title.text


def test_interleaved_chunks_are_hatched_and_explained() -> None:
    fig = plots.gantt(sim("interleaved", 2, 4, v=2), "interleaved")
    shapes = {s for t in fig.data if t.legendgroup == "F" for s in t.marker.pattern.shape}
    assert shapes == {"", "/"}
    assert any("hatched" in a.text for a in fig.layout.annotations)
    assert "hatched" not in str(plots.gantt(sim("1f1b", 2, 4), "plain").layout.annotations)


def test_bubble_vs_m_puts_points_on_the_theory_curve() -> None:
    points = [(1, 0.76), (4, 0.45), (8, 0.29)]
    fig = plots.bubble_vs_m(points, p=4, schedule="gpipe")
    theory, measured = fig.data
    for m, b in zip(theory.x, theory.y):
        assert b == pytest.approx(3 / (m + 3))
    assert list(measured.x) == [1, 4, 8] and list(measured.y) == [0.76, 0.45, 0.29]
    assert fig.layout.xaxis.title.text == "micro-batches m"
    assert fig.layout.yaxis.title.text == "bubble fraction (idle share)"
    assert "p=4" in fig.layout.title.text
    inter = plots.bubble_vs_m([(4, 0.2)], p=4, schedule="interleaved", v=2)
    assert inter.data[0].y[inter.data[0].x.index(4)] == pytest.approx(3 / (8 + 3))


def test_activation_memory_groups_schedules_per_rank() -> None:
    gpipe = fake_result("gpipe", 8, [8, 8, 8, 8], 2_000_000, 0.27)
    f1b = fake_result("1f1b", 8, [4, 3, 2, 1], 2_000_000, 0.27)
    fig = plots.activation_memory({"GPipe": gpipe, "1F1B": f1b})
    assert [t.name for t in fig.data] == ["GPipe", "1F1B"]
    assert list(fig.data[0].x) == ["GPU 0", "GPU 1", "GPU 2", "GPU 3"]
    assert list(fig.data[1].y) == pytest.approx([8e6 / 2**20, 6e6 / 2**20, 4e6 / 2**20, 2e6 / 2**20])
    assert fig.layout.yaxis.title.text == "peak activations held (MiB)"
    assert fig.layout.barmode == "group" and list(fig.data[1].text)[0] == "4 micro-batches"
    small = plots.activation_memory([fake_result("1f1b", 2, [2, 1], 16_384, 0.3)])
    assert "(KiB)" in small.layout.yaxis.title.text and small.data[0].y[0] == pytest.approx(32.0)
    measured = fake_result("1f1b", 2, [2, 1], 16_384, 0.3)
    measured.activation_memory_method = "saved_tensor_hooks"
    assert "saved-tensor hooks" in plots.activation_memory([measured]).layout.xaxis.title.text


def test_schedule_comparison_and_generic_helpers() -> None:
    rows = [fake_result("1f1b", 8, [4, 3], 1, 0.30), fake_result("interleaved", 8, [5, 4], 1, 0.2, v=2)]
    fig = plots.schedule_comparison(rows)
    assert [t.name for t in fig.data] == ["measured", "theory", "simulated"]
    assert list(fig.data[0].x) == ["1f1b", "interleaved v=2"]
    assert fig.data[1].y[1] == pytest.approx(1 / (16 + 1))
    line = plots.line_chart({"a": ([1, 2], [3, 4]), "b": ([1, 2], [4, 5])}, "t", "x (s)", "y (ms)")
    assert len(line.data) == 2 and line.data[0].line.color != line.data[1].line.color
    assert line.layout.xaxis.title.text == "x (s)" and line.layout.title.text == "t"
    bar = plots.bar_chart(["tp", "pp"], {"bytes": [10.0, 2.0]}, "bytes", "strategy", "bytes (MB)")
    assert list(bar.data[0].text) == ["10", "2"]


def test_step_time_vs_m_marks_the_model_optimum() -> None:
    model = {1: 0.68, 2: 0.45, 4: 0.35, 8: 0.33, 16: 0.38}
    fig = plots.step_time_vs_m([(m, t) for m, t in model.items()], model, best_m=6.9)
    assert [t.name.split()[0] for t in fig.data] == ["measured", "model", "model"]
    assert list(fig.data[0].y) == pytest.approx([680, 450, 350, 330, 380])
    assert list(fig.data[2].x) == [6.9, 6.9]
    assert fig.layout.yaxis.title.text == "step time (ms)"
