"""What a serving benchmark reports, measured or simulated (the same code computes both).

Definitions follow vLLM's ``benchmarks/serve.py``:
  TTFT  time to first token  = first token received - arrival (queueing + prefill + pipeline trip)
  TPOT  time per output token = (latency - TTFT) / (output_len - 1), requests with > 1 token
  E2E   end-to-end latency   = last token received - arrival
  throughput = output tokens / duration, requests / duration (duration: t=0 to the last token)
Pipeline health comes from the timeline: per-stage busy/idle and the bubble fraction
(idle stage-time / (stages x makespan)); occupancy is how full the batches were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ppedu.serving.scheduler import BatchingConfig, RequestState
from ppedu.schedules.theory import theory_decode_bubble
from ppedu.schedules.timeline import Timeline


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation (numpy's default); None if empty."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def window_bubble(timeline: Timeline, start: float, end: float) -> float:
    """Idle share of all stages between ``start`` and ``end`` (compute events clipped to it)."""
    span = end - start
    if span <= 0:
        return 0.0
    busy = 0.0
    for r in range(timeline.world_size):
        covered = start
        for e in sorted(timeline.rank_events(r, compute_only=True), key=lambda e: e.start):
            lo, hi = max(e.start, covered), min(e.end, end)
            if hi > lo:
                busy += hi - lo
            covered = max(covered, min(e.end, end))
    return 1.0 - busy / (timeline.world_size * span)


def measured_hop_s(timeline: Timeline) -> float | None:
    """Median time from "stage s-1 finished iteration i" to "stage s started it", counted only
    where stage s sat idle waiting for it (else the wait hides behind its own work). Stages run
    iterations FIFO, so the k-th event of every rank is the same iteration. None for p = 1."""
    ranks = [timeline.rank_events(r, compute_only=True) for r in range(timeline.world_size)]
    waited, all_gaps = [], []
    for prev, cur in zip(ranks, ranks[1:]):
        for k, (a, b) in enumerate(zip(prev, cur)):
            gap = b.start - a.end
            all_gaps.append(gap)
            if k == 0 or a.end >= cur[k - 1].end:
                waited.append(gap)
    gaps = sorted(waited or all_gaps)
    return max(0.0, gaps[len(gaps) // 2]) if gaps else None


@dataclass
class ServingResult:
    """One benchmark run. ``source`` is ``model`` / ``timed`` (measured on ranks) or ``simulated``."""
    config: BatchingConfig
    p: int
    source: str
    states: list[RequestState]
    timeline: Timeline
    occupancy: list[tuple[float, int, int]]        # (issued_s, slot, batch size) per iteration
    tokens_match_reference: bool | None = None
    overran_steps: int = 0                         # timed steps whose real compute exceeded the budget
    extra: dict = field(default_factory=dict)

    @property
    def tokens(self) -> dict[int, list[int]]:
        return {s.request.rid: list(s.generated) for s in self.states}

    @property
    def duration_s(self) -> float:
        return max((s.finish_s or 0.0) for s in self.states)

    def latencies(self) -> dict[str, list[float]]:
        """Per-request TTFT, TPOT, E2E in seconds."""
        ttft, tpot, e2e = [], [], []
        for s in self.states:
            arrival = s.request.arrival_s
            ttft.append(s.first_token_s - arrival)
            e2e.append(s.finish_s - arrival)
            if s.request.output_len > 1:
                tpot.append((s.finish_s - s.first_token_s) / (s.request.output_len - 1))
        return {"ttft": ttft, "tpot": tpot, "e2e": e2e}

    def decode_bubble_fraction(self) -> float | None:
        """The bubble while decoding: idle stage-time share from the first decode-only iteration
        to the last one (prompt-only ramp-up excluded), None if there was no decode iteration."""
        decodes = [e for e in self.timeline.events if e.kind == "decode"]
        if not decodes:
            return None
        return window_bubble(self.timeline, min(e.start for e in decodes), max(e.end for e in decodes))

    def mean_occupancy(self) -> float:
        """Average batch size per iteration / max_batch: 1.0 means every seat was used."""
        if not self.occupancy:
            return 0.0
        return sum(n for _, _, n in self.occupancy) / (len(self.occupancy) * self.config.max_batch)

    def to_dict(self) -> dict:
        """Every number of the run (JSON-ready)."""
        duration = self.duration_s
        out_tokens = sum(s.request.output_len for s in self.states)
        lat = self.latencies()
        tl = self.timeline
        report = {
            "policy": self.config.policy, "p": self.p, "inflight": self.config.inflight,
            "max_batch": self.config.max_batch, "source": self.source,
            "requests": len(self.states), "output_tokens": out_tokens, "duration_s": duration,
            "throughput_tok_s": out_tokens / duration if duration > 0 else None,
            "throughput_req_s": len(self.states) / duration if duration > 0 else None,
        }
        for name, values in lat.items():
            for q in (50, 90, 99):
                report[f"{name}_p{q}_s"] = percentile(values, q)
        report.update({
            "bubble_fraction": tl.bubble_fraction(),
            "decode_bubble_fraction": self.decode_bubble_fraction(),
            "theory_decode_bubble": theory_decode_bubble(self.p, self.config.inflight),
            "busy_s": [tl.busy(r) for r in range(self.p)],
            "idle_s": [tl.idle(r) for r in range(self.p)],
            "iterations": len(self.occupancy),
            "mean_occupancy": self.mean_occupancy(),
            "hop_s": measured_hop_s(tl) if self.source != "simulated" else None,
            "tokens_match_reference": self.tokens_match_reference,
            "overran_steps": self.overran_steps,
        })
        report.update(self.extra)
        return report

    def summary(self) -> str:
        """A few human-readable lines."""
        d = self.to_dict()
        ms = lambda x: "n/a" if x is None else f"{x * 1e3:.1f} ms"   # noqa: E731
        match = {True: "yes", False: "NO", None: "not checked"}[d["tokens_match_reference"]]
        return "\n".join([
            f"{d['policy']} batching, p={d['p']} stages, {d['inflight']} batch(es) in flight, "
            f"max batch {d['max_batch']} ({d['source']})",
            f"throughput   {d['throughput_tok_s']:.1f} tokens/s, {d['throughput_req_s']:.2f} requests/s "
            f"({d['output_tokens']} tokens in {d['duration_s']:.3f} s, {d['iterations']} iterations)",
            f"TTFT         p50 {ms(d['ttft_p50_s'])}  p90 {ms(d['ttft_p90_s'])}  p99 {ms(d['ttft_p99_s'])}",
            f"TPOT         p50 {ms(d['tpot_p50_s'])}  p90 {ms(d['tpot_p90_s'])}  p99 {ms(d['tpot_p99_s'])}",
            f"E2E latency  p50 {ms(d['e2e_p50_s'])}  p90 {ms(d['e2e_p90_s'])}  p99 {ms(d['e2e_p99_s'])}",
            f"bubble       {d['bubble_fraction']:.3f} of stage time idle; batches "
            f"{d['mean_occupancy']:.0%} full on average",
            "busy/stage   " + "  ".join(f"{b:.3f}s" for b in d["busy_s"]),
            f"tokens match single-process greedy decoding: {match}",
        ])
