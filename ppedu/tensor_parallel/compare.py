"""TP vs PP, measured side by side: the same tiny GPT, one training step, counted and timed.

Read top-down (the ranks' side, the jobs and their typed reports: ``ppedu.tensor_parallel.jobs``):
  TPvsPP, Measured, CommCost, Comparison   the typed results, read by attribute
                      (``Comparison.to_json()``: ``ppedu compare-tp-pp --json``'s object)
  summarize           per-rank reports -> messages, bytes, comm time, step time, memory per rank
  predict_comm_time   the cost model ("TP cost term"): comm on the critical path vs latency/bandwidth
  predict_step_time, crossover_latency_ms   where PP's step becomes shorter than TP's
  check_comparison    the one check of a comparison's settings (entry points call it, ranks trust it)
  compare_tp_pp       driver: runs TP over n ranks, PP over n ranks (and optionally a tp x pp mesh)

TP over n ranks is the mesh (tp=n, pp=1) and PP over n ranks is (tp=1, pp=n): one code path, so
the two differ only in how the model is cut. Counting conventions (per training step):
  messages  all-reduces (each counted once, however many ranks join) + point-to-point sends
  bytes     bytes put on the wire by all ranks together: a ring all-reduce of P bytes over n ranks
            sends 2(n-1)/n * P from every rank; a P2P send sends its payload (headers not counted)
  comm_time_s  the worst rank's time blocked in communication (waits + emulated link delay); for
            PP this includes waiting for the neighbour's compute, i.e. the bubble
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass
from typing import Generic, TypeVar

from ppedu.errors import UsageError, check_int
from ppedu.i18n.messages import _
from ppedu.model.gpt import GPTConfig
from ppedu.runtime import cluster
from ppedu.schedules.simulator import allreduce_time, pp_step_time, tp_step_time
from ppedu.tensor_parallel.jobs import NAMES, MeshRankReport, check_setup, mesh_step_job, reference_step_job

T = TypeVar("T")
MAX_CPU_RANKS = 8          # CPU ranks a comparison allows (`ppedu compare-tp-pp -n`, the panel's n)


@dataclass(frozen=True)
class TPvsPP(Generic[T]):
    """One number (or record) for TP over n ranks and one for PP over n ranks."""
    tp: T
    pp: T


@dataclass(frozen=True)
class Measured:
    """One measured layout (tp x pp ranks), its fastest step: counts, bytes, times, memory."""
    tp: int
    pp: int
    messages: int                     # all-reduces (each once) + point-to-point sends
    collectives: int
    p2p_messages: int
    bytes: int                        # put on the wire by all ranks together
    comm_time_s: float                # the worst rank's
    link_delay_s: float
    step_time_s: float
    param_bytes_per_rank: int         # the largest rank's
    activation_bytes_per_rank: int
    param_bytes: list[int]            # per rank
    activation_bytes: list[int]
    comm_time_per_rank_s: list[float]
    loss: float | None


@dataclass(frozen=True)
class CommCost:
    """The cost model's communication of one layout per step (critical path)."""
    messages: int
    bytes: int
    latency_terms: int                # latencies the critical path pays (the slope in alpha)
    comm_time_s: float


@dataclass(frozen=True)
class Comparison:
    """What ``compare_tp_pp`` measured and what the cost model predicts beside it."""
    n: int
    config: GPTConfig
    batch: int
    seq: int
    microbatches: int
    latency_ms: float
    bandwidth_gbps: float             # math.inf: unlimited
    reference_step_s: float           # the whole model's step on one rank
    tp: Measured
    pp: Measured
    mesh: Measured | None
    predicted: TPvsPP[CommCost]
    predicted_step_s: TPvsPP[float]
    crossover_latency_ms: float | None           # theory: PP's step is shorter above it
    crossover_from_measured_ms: float | None     # the measured steps with the model's slopes

    def to_json(self) -> dict:
        """``ppedu compare-tp-pp --json``'s object (the keys the book and its tests read)."""
        c = self.config
        out = {"n": self.n, "layers": c.n_layer, "hidden": c.n_embd, "heads": c.n_head, "batch": self.batch,
               "seq": self.seq, "microbatches": self.microbatches, "latency_ms": self.latency_ms,
               "bandwidth_gbps": self.bandwidth_gbps if math.isfinite(self.bandwidth_gbps) else None,
               "reference_step_s": self.reference_step_s, "tp": asdict(self.tp), "pp": asdict(self.pp)}
        if self.mesh is not None:
            out["mesh"] = asdict(self.mesh)
        out["predicted"] = {k: {**asdict(getattr(self.predicted, k)), "step_time_s": getattr(self.predicted_step_s, k)}
                            for k in ("tp", "pp")}
        out["crossover_latency_ms"] = self.crossover_latency_ms
        out["crossover_from_measured_ms"] = self.crossover_from_measured_ms
        return out


def summarize(per_rank: list[MeshRankReport], tp: int, pp: int) -> Measured:
    """Pick the fastest measured step (the same one on every rank) and total its counters."""
    n_steps = len(per_rank[0].steps)
    times = [max(r.steps[i].t1 for r in per_rank) - min(r.steps[i].t0 for r in per_rank)
             for i in range(n_steps)]
    best = min(range(n_steps), key=times.__getitem__)
    rows = [r.steps[best] for r in per_rank]
    collectives = sum(s.all_reduces for s in rows) // tp      # each one involves tp ranks
    p2p = sum(s.p2p_messages for s in rows)
    losses = [s.loss for s in rows if s.loss is not None]
    return Measured(tp=tp, pp=pp, messages=collectives + p2p, collectives=collectives, p2p_messages=p2p,
                    bytes=sum(s.all_reduce_bytes + s.p2p_bytes for s in rows),
                    comm_time_s=max(s.comm_s for s in rows), link_delay_s=max(s.link_delay_s for s in rows),
                    step_time_s=times[best], param_bytes_per_rank=max(r.param_bytes for r in per_rank),
                    activation_bytes_per_rank=max(s.activation_bytes for s in rows),
                    param_bytes=[r.param_bytes for r in per_rank],
                    activation_bytes=[s.activation_bytes for s in rows],
                    comm_time_per_rank_s=[s.comm_s for s in rows], loss=losses[0] if losses else None)


# --------------------------------------------------------------------------------------------------
# Cost model: the TP cost term beside PP's
# --------------------------------------------------------------------------------------------------
def predict_comm_time(config: GPTConfig, n: int, latency_ms: float = 0.0, bandwidth_gbps: float = math.inf,
                      batch: int = 8, seq: int = 64, microbatches: int = 1,
                      bytes_per_element: int = 4) -> TPvsPP[CommCost]:
    """Messages, bytes and communication time on the critical path of one step, TP vs PP over n ranks.

    The alpha-beta model, the one ``comm.set_link_model`` emulates: a send costs
    ``latency + bytes / bandwidth``; a ring all-reduce 2(n-1) latencies + 2(n-1)/n * bytes / bandwidth
    (``ppedu.schedules.simulator.allreduce_time``). TP: 4 all-reduces of P = batch*seq*hidden*e bytes
    per layer, all on the critical path. PP (GPipe): 2(n-1)*m sends of P/m; the critical path
    crosses each of the 2(n-1) borders once (first micro-batch forward, last one backward), the
    other sends overlap compute as long as a transfer is shorter than a stage's compute.
    ``latency_terms``: how many latencies the critical path pays (the slope in alpha).
    """
    P, m, L = batch * seq * config.n_embd * bytes_per_element, microbatches, config.n_layer
    lat, bw = latency_ms / 1e3, bandwidth_gbps * 1e9
    wire = int(2 * (n - 1) / n * P)                      # per rank per all-reduce, as comm counts it
    tp_msgs = 4 * L if n > 1 else 0                      # tp=1 talks to nobody
    return TPvsPP(tp=CommCost(messages=tp_msgs, bytes=tp_msgs * n * wire, latency_terms=tp_msgs * 2 * (n - 1),
                              comm_time_s=tp_msgs * allreduce_time(n, P, lat, bw)),
                  pp=CommCost(messages=2 * (n - 1) * m, bytes=2 * (n - 1) * P, latency_terms=2 * (n - 1),
                              comm_time_s=2 * (n - 1) * (lat + P / m / bw)))


def predict_step_time(config: GPTConfig, n: int, compute_s: float, latency_ms: float = 0.0,
                      bandwidth_gbps: float = math.inf, batch: int = 8, seq: int = 64,
                      microbatches: int = 1) -> TPvsPP[float]:
    """Step time = compute + exposed comm, from the simulator (``ppedu.schedules.simulator.tp_step_time``,
    ``pp_step_time``). ``compute_s``: the whole model's step on one rank.

    TP splits every layer: compute_s / n. PP (GPipe, m micro-batches) runs (m + n - 1) slots of
    compute_s / (n m) each: the bubble. Replicated embeddings/head under TP are ignored (small here).
    """
    P = batch * seq * config.n_embd * 4                  # bytes of one b x s x h activation
    lat, bw = latency_ms / 1e3, bandwidth_gbps * 1e9
    return TPvsPP(tp=tp_step_time(compute_s, config.n_layer, n, lat, P, bw),
                  pp=pp_step_time(compute_s, n, microbatches, lat, P, bw))


def crossover_latency_ms(config: GPTConfig, n: int, compute_s: float, bandwidth_gbps: float = math.inf,
                         batch: int = 8, seq: int = 64, microbatches: int = 1) -> float | None:
    """Latency per message above which PP's predicted step is shorter than TP's (None: never)."""
    kw = dict(bandwidth_gbps=bandwidth_gbps, batch=batch, seq=seq, microbatches=microbatches)
    at0 = predict_step_time(config, n, compute_s, 0.0, **kw)
    msgs = predict_comm_time(config, n, **kw)
    slope = msgs.tp.latency_terms - msgs.pp.latency_terms    # extra latencies TP pays
    if slope <= 0:
        return None
    lat_s = (at0.pp - at0.tp) / slope
    return max(0.0, lat_s * 1e3)


# --------------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------------
# How check_comparison names each setting; the CLI and the panel pass their own spelling.
COMPARE_NAMES = {**NAMES, "n": "n", "seq": "seq", "mesh_tp": "mesh_tp"}


def check_comparison(config: GPTConfig, n: int, batch: int, seq: int, microbatches: int = 1,
                     mesh_tp: int | None = None, names: dict[str, str] = COMPARE_NAMES) -> None:
    """The one check of a comparison's settings, before any rank starts: TP over n ranks, PP over n
    ranks (micro-batches dividing the batch), the optional mesh_tp x n/mesh_tp mesh, seq <= block_size.
    ``names``: how the entry point spells the settings it names otherwise (``COMPARE_NAMES``' keys)."""
    names = {**COMPARE_NAMES, **names}
    check_setup(config, n, 1, batch, names={**names, "tp": names["n"]})
    check_setup(config, 1, n, batch, microbatches, names={**names, "pp": names["n"]})
    check_int(names["seq"], seq, 1, config.block_size)
    if mesh_tp is not None:
        tp = check_int(names["mesh_tp"], mesh_tp, 1, n)
        if n % tp:
            raise UsageError(_("{tp} must divide {n}={n_value}: the mesh is tp x pp = n ranks (got {tp_value})").format(
                tp=names["mesh_tp"], n=names["n"], n_value=n, tp_value=tp))
        check_setup(config, tp, n // tp, batch, microbatches, names={**names, "tp": names["mesh_tp"]})


def compare_tp_pp(n: int, config: GPTConfig, batch: int = 8, seq: int = 64, microbatches: int = 1,
                  latency_ms: float = 0.0, bandwidth_gbps: float = math.inf, repeats: int = 3,
                  mesh_tp: int | None = None, group=None, progress: bool = False) -> Comparison:
    """Measure TP over n ranks and PP over n ranks (and a mesh_tp x n/mesh_tp mesh if given).

    ``group``: a Cluster or TorchrunGroup of n ranks (default ``cluster.connect(n)``).
    """
    check_comparison(config, n, batch, seq, microbatches, mesh_tp)
    group = group or cluster.connect(n)
    if group.world_size != n:
        raise UsageError(_("n must equal the group's world_size={world} (got {n})").format(world=group.world_size, n=n))
    say = (lambda s: print(s, file=sys.stderr, flush=True)) if progress else (lambda s: None)
    kw = dict(batch=batch, seq=seq, latency_ms=latency_ms, bandwidth_gbps=bandwidth_gbps, repeats=repeats)
    say(_("timing the whole model on one rank ..."))
    compute_s = group.run(reference_step_job, config, batch, seq, repeats)[0]
    say(_("TP over {n} ranks ...").format(n=n))
    # TP needs no micro-batches (no bubble to fill): one pass over the whole batch
    tp = summarize(group.run(mesh_step_job, config, n, 1, microbatches=1, **kw), n, 1)
    say(_("PP over {n} ranks ...").format(n=n))
    pp = summarize(group.run(mesh_step_job, config, 1, n, microbatches=microbatches, **kw), 1, n)
    mesh = None
    if mesh_tp is not None:
        say(f"TP x PP = {mesh_tp} x {n // mesh_tp} ...")
        mesh = summarize(group.run(mesh_step_job, config, mesh_tp, n // mesh_tp, microbatches=microbatches, **kw),
                         mesh_tp, n // mesh_tp)
    model_kw = dict(batch=batch, seq=seq, microbatches=microbatches)
    predicted = predict_comm_time(config, n, latency_ms, bandwidth_gbps, **model_kw)
    # The same crossover extrapolated from the *measured* steps with the model's slopes (extra
    # critical-path messages of TP): on CPU gloo's own per-call cost shifts the intercept.
    slope = predicted.tp.latency_terms - predicted.pp.latency_terms
    gap = pp.step_time_s - tp.step_time_s
    return Comparison(n=n, config=config, batch=batch, seq=seq, microbatches=microbatches, latency_ms=latency_ms,
                      bandwidth_gbps=bandwidth_gbps, reference_step_s=compute_s, tp=tp, pp=pp, mesh=mesh,
                      predicted=predicted,
                      predicted_step_s=predict_step_time(config, n, compute_s, latency_ms, bandwidth_gbps, **model_kw),
                      crossover_latency_ms=crossover_latency_ms(config, n, compute_s, bandwidth_gbps, **model_kw),
                      crossover_from_measured_ms=max(0.0, latency_ms + gap / slope * 1e3) if slope > 0 else None)
