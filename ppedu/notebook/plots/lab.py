"""Chapter 6's figures: the student's own measured Gantt chart, and bubble / memory beside theory.

    lab_gantt(result)            one row per rank, the timeline the student's loop recorded
    lab_comparison(results)      measured vs theory bubble and rank 0's peak activations, per run
"""

from __future__ import annotations

from typing import Mapping

import plotly.graph_objects as go

from ppedu.notebook.plots.training import _layout, bar_chart, gantt
from ppedu.i18n.messages import _


def lab_gantt(result, title: str | None = None) -> go.Figure:
    """The measured Gantt chart of a ``ppedu.lab`` run (an empty, titled chart when nothing ran)."""
    if result is None or result.timeline is None or not result.timeline.events:
        fig = go.Figure()
        fig.update_xaxes(title_text=_("time since the step's first compute (ms)"))
        fig.update_yaxes(title_text="rank")
        return _layout(fig, title or _("Nothing was measured: make the exercise above pass first"), 260)
    if title is None:
        s = result.spec
        name = {"afab": "AFAB", "1f1b": "1F1B", "interleaved": _("interleaved 1F1B")}.get(result.schedule, _("your loop"))
        theory = "" if result.theory_bubble is None else _(" (theory {theory:.2f})").format(theory=result.theory_bubble)
        title = (_("Your {name}, p={p}, m={m}, {workload} workload: measured bubble {measured_bubble:.2f}{theory}").format(name=name, p=s.p, m=s.m, workload=s.workload, measured_bubble=result.measured_bubble, theory=theory))
    return gantt(result.timeline, title)


def lab_comparison(results: Mapping[str, object], title: str | None = None) -> go.Figure:
    """Bubble (idle share) measured and predicted, and rank 0's peak activations as a share of
    AFAB's (all m micro-batches), one group per run."""
    names = list(results)
    rows = list(results.values())
    series = {_("measured bubble (share of the step)"): [r.measured_bubble or 0.0 for r in rows],
              _("theory bubble (share of the step)"): [r.theory_bubble or 0.0 for r in rows],
              # a chunk holds 1/v of the rank's layers, so v chunk-activations weigh one micro-batch
              _("rank 0 peak activations (share of AFAB's)"): [
                  r.peak_activations[0] / (r.spec.v * r.spec.m) if r.reports else 0.0 for r in rows]}
    return bar_chart(names, series, title or _("Your runs: measured vs theory"), _("run"), _("share (0 to 1)"), ".2f")
