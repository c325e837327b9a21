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

from ppedu.serving.workload import RequestState
from ppedu.i18n.messages import _
from ppedu.serving.scheduler import BatchingConfig, Scheduler
from ppedu.schedules.theory import theory_decode_bubble
from ppedu.schedules.timeline import Event, Timeline


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation (numpy's default); None if empty."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def request_latency(s: RequestState) -> tuple[float, float | None, float]:
    """(TTFT, TPOT or None for a one-token request, E2E) of a served request, in seconds."""
    n = s.request.output_len
    tpot = (s.finish_s - s.first_token_s) / (n - 1) if n > 1 else None
    return s.first_token_s - s.request.arrival_s, tpot, s.finish_s - s.request.arrival_s


def slot_event(rank: int, kind: str, slot: int, start: float, end: float) -> Event:
    """A serving step as a timeline Event. Serving has no micro-batches: the Event's ``mb`` field
    holds the *slot* (which of the K batches in flight ran), so Gantt charts colour by batch."""
    return Event(rank, kind, mb=slot, chunk=0, start=start, end=end)


def window_bubble(timeline: Timeline, start: float, end: float) -> float:
    """Idle share of all stages between ``start`` and ``end``: the timeline's busy-time union of
    its compute events clipped to the window."""
    span = end - start
    if span <= 0:
        return 0.0
    clipped = [e._replace(start=max(e.start, start), end=min(e.end, end)) for e in timeline.events
               if e.end > start and e.start < end]
    window = Timeline(clipped, timeline.world_size)
    return 1.0 - sum(window.busy(r) for r in range(timeline.world_size)) / (timeline.world_size * span)


def kv_report(sched: Scheduler) -> dict:
    """Paged KV memory of a run (per stage): peak blocks, and the waste of paging vs reserving
    every running request's maximum length up front (vLLM SOSP'23 §3, Fig. 2). Waste is the share
    of allocated token slots holding no token, averaged over iterations."""
    samples, B = sched.kv_samples, sched.blocks.block_size
    paged = [1 - tokens / (used * B) for used, tokens, _ in samples if used]
    reserved = [1 - tokens / (res * B) for _, tokens, res in samples if res]
    return {"kv_blocks": sched.config.kv_blocks, "block_size": B,
            "kv_peak_blocks": sched.blocks.peak_used,
            "kv_peak_reserved_blocks": max((res for _, _, res in samples), default=0),
            "kv_waste_paged": sum(paged) / len(paged) if paged else 0.0,
            "kv_waste_reserved": sum(reserved) / len(reserved) if reserved else 0.0,
            "kv_leaked_blocks": sched.blocks.used,
            "max_iteration_tokens": max(sched.iteration_tokens, default=0),
            "preemptions": sched.preemptions}


@dataclass
class ServingResult:
    """One benchmark run. ``source`` is ``model`` / ``timed`` (measured on ranks) or ``simulated``."""
    config: BatchingConfig
    p: int
    source: str
    states: list[RequestState]
    timeline: Timeline
    occupancy: list[tuple[float, int, int]]        # (issued_s, slot, batch size) per iteration
    kv: dict = field(default_factory=dict)         # kv_report()
    tokens_match_reference: bool | None = None
    overran_steps: int = 0                         # timed steps whose real compute exceeded the budget
    measured: dict = field(default_factory=dict)   # calibrate.measured_overheads() of a real run
    extra: dict = field(default_factory=dict)
    jitter: dict = field(default_factory=dict)     # measured overhead samples (calibrate), not in JSON

    @classmethod
    def of(cls, sched: Scheduler, **kwargs) -> "ServingResult":
        """The result of a run driven by ``sched``."""
        return cls(config=sched.config, states=list(sched.states.values()), occupancy=sched.occupancy,
                   kv=kv_report(sched), **kwargs)

    @property
    def tokens(self) -> dict[int, list[int]]:
        return {s.request.rid: list(s.generated) for s in self.states}

    @property
    def duration_s(self) -> float:
        return max((s.finish_s or 0.0) for s in self.states)

    @property
    def throughput_tok_s(self) -> float | None:
        """Output tokens per second of the whole run (None if it took no time)."""
        duration = self.duration_s
        return sum(s.request.output_len for s in self.states) / duration if duration > 0 else None

    def latencies(self) -> dict[str, list[float]]:
        """Per-request TTFT, TPOT (requests with > 1 token), E2E in seconds."""
        rows = [request_latency(s) for s in self.states]
        return {"ttft": [r[0] for r in rows], "tpot": [r[1] for r in rows if r[1] is not None],
                "e2e": [r[2] for r in rows]}

    def decode_bubble_fraction(self) -> float | None:
        """The bubble while decoding: idle stage-time share from the first decode-only iteration
        to the last one (prompt-only ramp-up excluded), None if there was no decode iteration."""
        decodes = [e for e in self.timeline.events if e.kind == "decode"]
        if not decodes:
            return None
        return window_bubble(self.timeline, min(e.start for e in decodes), max(e.end for e in decodes))

    def step_cv(self) -> float:
        """Spread of stage 0's step times (std / mean): how unequal the in-flight batches'
        iterations are -- a long prompt makes one much longer, and the next stage waits for it
        (Sarathi-Serve §3.3's pipeline bubbles). 0 when every step is equally long."""
        steps = [e.end - e.start for e in self.timeline.rank_events(0, compute_only=True)]
        if len(steps) < 2:
            return 0.0
        mean = sum(steps) / len(steps)
        if mean <= 0:
            return 0.0
        return math.sqrt(sum((x - mean) ** 2 for x in steps) / len(steps)) / mean

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
            "max_batch": self.config.max_batch, "token_budget": self.config.token_budget,
            "source": self.source,
            "requests": len(self.states), "output_tokens": out_tokens, "duration_s": duration,
            "throughput_tok_s": self.throughput_tok_s,
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
            "step_cv": self.step_cv(),
            "mean_occupancy": self.mean_occupancy(),
            "tokens_match_reference": self.tokens_match_reference,
            "overran_steps": self.overran_steps,
        })
        report.update(self.kv)
        report.update(self.measured)
        report.update(self.extra)
        return report

    def goodput(self, slo_ttft_s: float, slo_tpot_s: float) -> dict:
        """Requests meeting both latency targets: count, share, per second (vLLM's ``request_goodput``;
        DistServe's goodput is the highest rate at which a target share meets them).
        A one-token request has no TPOT and meets that target."""
        ok = sum(ttft <= slo_ttft_s and (tpot or 0.0) <= slo_tpot_s
                 for ttft, tpot, _ in map(request_latency, self.states))
        duration = self.duration_s
        return {"slo_ttft_s": slo_ttft_s, "slo_tpot_s": slo_tpot_s, "slo_met": ok,
                "slo_attainment": ok / len(self.states),
                "goodput_req_s": ok / duration if duration > 0 else None}

    def summary(self) -> str:
        """A few human-readable lines."""
        d = self.to_dict()
        ms = lambda x: _("n/a") if x is None else f"{x * 1e3:.1f} ms"   # noqa: E731
        match = {True: _("yes"), False: _("NO"), None: _("not checked")}[d["tokens_match_reference"]]
        pct = {k: ms(d[k]) for k in ("ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_p50_s", "tpot_p90_s",
                                     "tpot_p99_s", "e2e_p50_s", "e2e_p90_s", "e2e_p99_s")}
        return "\n".join([
            _("{policy} batching, p={p} stages, {inflight} batch(es) in flight, max batch {max_batch} ({source})"),
            _("throughput   {throughput_tok_s:.1f} tokens/s, {throughput_req_s:.2f} requests/s ({output_tokens} "
              "tokens in {duration_s:.3f} s, {iterations} iterations)"),
            _("TTFT         p50 {ttft_p50_s}  p90 {ttft_p90_s}  p99 {ttft_p99_s}"),
            _("TPOT         p50 {tpot_p50_s}  p90 {tpot_p90_s}  p99 {tpot_p99_s}"),
            _("E2E latency  p50 {e2e_p50_s}  p90 {e2e_p90_s}  p99 {e2e_p99_s}"),
            _("bubble       {bubble_fraction:.3f} of stage time idle; batches {mean_occupancy:.0%} full on average"),
            _("busy/stage   {busy}"),
            _("KV cache     peak {kv_peak_blocks} blocks of {block_size} tokens per stage (budget {budget}), "
              "{preemptions} preemptions; waste {kv_waste_paged:.0%} paged vs {kv_waste_reserved:.0%} reserving "
              "max length ({kv_peak_reserved_blocks} blocks)"),
            _("tokens match single-process greedy decoding: {match}"),
        ]).format(**{**d, **pct, "source": _("simulated") if d["source"] == "simulated" else d["source"]},
                  busy="  ".join(f"{b:.3f}s" for b in d["busy_s"]), budget=d["kv_blocks"] or _("unlimited"),
                  match=match)
