"""The sentences the notebooks print and the titles of their figures, in the student's language.

A Chinese notebook has exactly the English notebook's code cells, so a sentence a code cell shows
lives here, as one message id, and the cell names it: ``say("00.warm", seconds=warm_s, ...)``
prints it, ``text("00.first", p=p, m=m)`` returns it (a figure's title, an assertion's message).
Keys start with the notebook's number. Numbers are formatted by the message (``{seconds:.2f}``),
so both languages print the same digits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ppedu.i18n.messages import N_, _

TEXTS: dict[str, str] = {
    # 00_setup
    "00.ready": N_("{cluster} ready after {seconds:.1f} s"),
    "00.first": N_("Your first measured pipeline: GPipe, p={p}, m={m}"),
    "00.warm": N_("warm re-run: {seconds:.2f} s wall time for a {step_ms:.0f} ms step"),
    "00.warm_slow": N_("a re-run on a warm cluster should take about a second"),
    "00.bubble_differs": N_("{name}: you get {got:.4f}, ppedu gets {want:.4f}. Hint: does your busy time include "
                            "the recv waits? Is the step the latest end?"),
    "00.bubble_ok": N_("✓ your bubble matches ppedu on the measured ({got:.3f}) and simulated timelines"),
    "00.hidden": N_("my_bubble on a timeline the notebook does not show"),
    "00.naive": N_("measured {measured:.3f} vs your formula {formula:.3f}"),
    # 01_tp_vs_pp
    "01.shards": N_("A_r {a}, B_r {b}: each rank holds 1/{n} of the MLP"),
    "01.sum_differs": N_("the sum of the partial outputs must equal the MLP"),
    "01.sum_ok": N_("sum over ranks == the single-process MLP"),
    "01.bounds_here": N_("this notebook: {bounds}"),
    "01.bounds_seed": N_("seed 001     : {bounds}"),
    "01.dropped": N_("30 layers on 4 stages: num_layers // pp_size drops {dropped} layers; uniform_bounds: {bounds}"),
    "01.grew": N_("step time grew by {tp:.1f} ms under TP and {pp:.1f} ms under PP"),
    "01.crossover_differs": N_("your {mine:.3f} ms vs the cost model's {theory:.3f} ms: set the two step times equal; "
                               "TP's slope is 4L*2(n-1) per ms, PP's 2(n-1)"),
    "01.crossover_ok": N_("✓ PP's step is shorter above ≈ {theory:.2f} ms per message (cost model)"),
    "01.faster": N_("link {latency:g} ms per message: TP step {tp:.1f} ms, PP step {pp:.1f} ms -> {faster} is faster"),
    "01.per_rank": N_("{kind}: parameters per rank {params} B, activations per rank {acts} B"),
    "01.share": N_("1/{n} of the whole model's activations: {bytes} B"),
    "01.pp_m2": N_("PP activations per rank, m=1: {m1} B; m=2: {m2} B; TP: {tp} B"),
    "01.mesh": N_("{parameters} parameters, max |grad - reference| = {diff:.1e}, loss {mesh:.5f} vs {reference:.5f}"),
    "01.mesh_differs": N_("the mesh's gradients differ from the single-process model's"),
    # 02_bubbles
    "02.naive": N_("Naive pipeline, p={p}: one GPU works at a time"),
    "02.gpu": N_("GPU {rank}: busy {busy:5.1f} ms, idle {idle:5.1f} ms"),
    "02.theory_naive": N_("theory: (p-1)/p = {bubble:.3f}"),
    "02.m1": N_("with m = 1 GPipe is the naive pipeline"),
    "02.decode": N_("theory {theory:.3f}, measured {measured:.3f}"),
    "02.decode_title": N_("One decode step, forward only, p={p}: one sequence in flight"),
    "02.also": N_("  also: {problem}"),
    "02.seed_title": N_("Seed 002's table, numbered from 0: GPU3 runs B1..B3 without F1..F3"),
    "02.real_step": N_("measured step: {units:.1f} units of t_f;  (m+p-1)(t_f+t_b) = {minimum:g};  "
                       "seed 002 claims 10 (for p=4)"),
    "02.real_title": N_("A real 1F1B step, p={p}, m=4"),
    "02.flops": N_("embedding {embedding:.0f} MFLOP, each block {block:.0f} MFLOP, head {head:.0f} MFLOP per "
                   "micro-batch"),
    "02.split": N_("{name:8} GPU busy {busy0:5.0f} / {busy1:5.0f} ms, step {step:5.0f} ms (simulated {simulated:5.0f} "
                   "ms), bubble {bubble:.2f}"),
    "02.head_busier": N_("the head's stage is the busier one"),
    "02.balanced_faster": N_("the balanced split should be faster"),
    # 03_micro_batches
    "03.sweep_title": N_("GPipe bubble vs micro-batches, p={p}: measured vs theory"),
    "03.sweep_row": N_("m={m:>3}: measured {measured:.3f}   theory {theory:.3f}   simulated {simulated:.3f}"),
    "03.m8": N_("p=4, m=8:  {bubble:.3f}"),
    "03.m32": N_("p=4, m=32: {bubble:.3f}   (11 % would need m = 24: {m24:.3f})"),
    "03.m10_high": N_("at m={m} the bubble is {bubble:.3f}"),
    "03.m10_low": N_("m={m} is already below 10 %: look for a smaller m"),
    "03.m10_ok": N_("✓ prediction: m={m} is the smallest m with theory below 10 % ({bubble:.3f}; 4p = {four_p})"),
    "03.meets": N_("measured at m={m}: {measured:.3f} -> meets the 10 % target"),
    "03.misses": N_("measured at m={m}: {measured:.3f} -> misses the 10 % target (message overheads)"),
    "03.held_series": N_("GPipe, GPU 0"),
    "03.held_title": N_("GPipe: activations held on GPU 0 grow with m (p={p})"),
    "03.held_x": N_("micro-batches m"),
    "03.held_y": N_("peak activations held on GPU 0 (KiB)"),
    "03.held_differs": N_("m={m}: {bytes} bytes, expected m x {per_mb:.0f}"),
    "03.held_ok": N_("✓ GPipe holds m x {per_mb_kib:.1f} KiB on GPU 0: {peaks} KiB"),
    "03.peaks_title": N_("Peak activations per rank, p={p}, m={m}"),
    "03.latency_title": N_("Fixed batch ({batch_ms:g} ms per stage), link latency {latency_ms:g} ms: 1F1B step time "
                           "over m, p={p}"),
    "03.latency_row": N_("m={m:>2}: measured {measured:5.0f} ms   simulated {simulated:5.0f} ms   model {model:5.0f} ms"),
    "03.fastest": N_("fastest measured m = {m}; the model's m* = {star:.1f}"),
    "03.fastest_inside": N_("expected the fastest m strictly between 1 and 16"),
    "03.recompute": N_("recompute={mode:<9}: GPU 0 holds {kib:7.1f} KiB ({method}), gradients vs one process: "
                       "{diff:.1e}"),
    "03.recompute_grads": N_("recomputation must not change the gradients"),
    "03.recompute_title": N_("1F1B, p={p}, m={m}: measured activations with recomputation"),
    "03.formula": N_("measured {measured:.1f} KiB, formula {formula:.1f} KiB ({held} micro-batches x {layers} layers)"),
    "03.too_big": N_("still too big: {reason}"),
    "03.cheaper": N_("it fits, but {mode} recomputation would have been enough"),
    "03.fits": N_("✓ fits: {reason}"),
    # 04_1f1b
    "04.pair_title": N_("GPipe vs 1F1B, p={p}, m={m}: both measured"),
    "04.gpipe_measured": N_("GPipe (measured)"),
    "04.f1b_measured": N_("1F1B (measured)"),
    "04.same_bubble": N_("✓ same bubble: GPipe {gpipe:.3f}, 1F1B {f1b:.3f}, theory {theory:.3f}"),
    "04.loop_title": N_("A plain 1F1B loop on p={p} real ranks, m={m}: measured"),
    "04.peaks_title": N_("Peak activations per rank, p={p}, m={m}: measured"),
    "04.held": N_("✓ GPipe holds {m} micro-batches on every rank; 1F1B holds {held} (min(p-r, m))"),
    "04.compare_title": N_("Bubble by schedule, p={p}, m={m}, T_F = T_B = T_W: measured vs theory"),
    "04.zb_title": N_("ZB-H1, p={p}, m={m}: where did the W's go?"),
    "04.alpha_high": N_("at alpha={alpha} interleaving is still faster"),
    "04.alpha_low": N_("a smaller alpha already stops it: look lower"),
    "04.alpha_ok": N_("✓ interleaving (v=2) stops paying at alpha ≈ {alpha:g} t_f: step {v2:g} vs {v1:g} units"),
    "04.zbv": N_("✓ ZB-V: bubble {zbv:.3f} vs 1F1B {f1b:.3f} at the same peak memory, {zbv_messages} vs "
                 "{f1b_messages} messages per step"),
    # 05_continuous_batching
    "05.variant": N_("{policy:>10}, K={k} {extra}: {iterations:>3} iterations, {preemptions} preemptions, largest "
                     "iteration {max_iteration_tokens} tokens, tokens match: {tokens_match_reference}"),
    "05.gpu_costs": N_("{model} on {gpu}, 2 stages: t0 = {t0_ms:.2f} ms, c = {c_us:.1f} us/token, crossover t0/c = "
                       "{crossover:.0f} tokens"),
    "05.default_cost": N_("the timed workload's default (3x slower, so CPU messages weigh as NVLink's do): t0 = "
                          "{t0_ms:.1f} ms, c = {c_ms:.3f} ms/token"),
    "05.this_cost": N_("this notebook: t0 = {t0_ms:g} ms, c = {c_ms:g} ms/token (crossover {crossover:.0f} tokens: "
                       "batches here are compute-heavy on purpose)"),
    "05.k_title": N_("Decode bubble vs batches in flight K, p={p}"),
    "05.k_row": N_("K={k}: you predicted {predicted:.3f}, measured {measured:.3f}, simulated with the measured messages "
                   "{simulated:.3f} (hop {hop_ms:.1f} ms) · throughput {throughput:.1f} tok/s, simulated "
                   "{simulated_throughput:.1f}"),
    "05.x_row": N_("x = {x:g}: one batch of {big}: {one_tok:.1f} tok/s, TPOT p50 {one_tpot_ms:.0f} ms · {p} batches "
                   "of 4: {k_tok:.1f} tok/s, TPOT p50 {k_tpot_ms:.0f} ms · gain {gain:.2f} (theory {theory:.2f})"),
    "05.x_title": N_("{p} batches of 4 in flight vs one batch of {big} (same requests, same KV)"),
    "05.x_sim": N_("x = {x:g}: measured gain {gain:.2f}, simulated with the measured messages {simulated:.2f}"),
    "05.tail_title": N_("Exponential output lengths, {requests} requests at t=0, max batch {max_batch}, p={p}, K=1"),
    "05.policy_row": N_("{name:>10}: {throughput_tok_s:6.1f} tok/s, batches {mean_occupancy:.0%} full, {iterations} "
                        "iterations"),
    "05.ratio": N_("continuous / static throughput: {ratio:.2f}x"),
    "05.occupancy_title": N_("Requests per iteration: static waits for its longest request"),
    "05.sizes": N_("batch sizes seen by the stages under continuous batching: {sizes}"),
    "05.sigma_row": N_("sigma {sigma:.2f} (coefficient of variation {cv:.2f}, longest {output_len_max} tokens): "
                       "continuous / static = {gain:.2f}x measured, {simulated_gain:.2f}x simulated"),
    "05.sigma_title": N_("Continuous over static batching as output lengths spread (24 requests at t=0, p={p}, K=1)"),
    "05.chunk_row": N_("{name:>12}: TPOT p99 {tpot_p99_ms:.0f} ms, stage-0 step spread {step_cv:.2f}, "
                       "{throughput_tok_s:.1f} tok/s, largest iteration {max_iteration_tokens} tokens, tokens match: "
                       "{tokens_match_reference}"),
    "05.chunk_title": N_("Chunked prefill, p={p}, K={p}: decode stalls and stage imbalance"),
    "05.kv_row": N_("{name:>10}: peak {kv_peak_blocks} blocks (reserving max length: {kv_peak_reserved_blocks}), "
                    "{preemptions} preemptions, waste {kv_waste_paged:.0%} paged vs {kv_waste_reserved:.0%} reserved, "
                    "{throughput_tok_s:.1f} tok/s, tokens match: {tokens_match_reference}"),
    "05.kv_title": N_("Paged KV cache, p={p}: blocks at the peak and preemptions"),
    "05.rate_point": N_("{rate:g}/s -> {goodput_req_s:.1f} req/s (simulated {simulated_goodput_req_s:.1f})"),
    "05.rate_title": N_("Goodput vs arrival rate, p={p}: 32 requests per point, TTFT ≤ 0.1 s, TPOT ≤ 40 ms"),
    "05.knee": N_("the knee (rate with the highest measured goodput): {best}"),
    "05.gaps": N_("20 ms steps: a scheduling decision every {fast:.1f} ms; 40 ms steps: every {slow:.1f} ms"),
    "05.online_row": N_("{name:>10}: {throughput_tok_s:6.1f} tok/s, E2E p99 {e2e_p99_s:.3f} s, TTFT p50 "
                        "{ttft_p50_ms:.0f} ms"),
    "05.online_title": N_("Poisson arrivals, {rate:g} requests/s, max batch 8, p={p}"),
    # 06_build_your_pipeline
    "06.afab_1f1b_title": N_("Your AFAB and 1F1B, p={p}, m={m}, timed workload: measured vs theory"),
    "06.warmup_title": N_("1F1B with warm-up p-r-1, one more, one fewer (p={p}, m={m}, timed)"),
    "06.less_title": N_("1F1B with one warm-up forward fewer, p={p}, m={m}: where the bubble grows"),
    "06.interleaved_title": N_("1F1B and interleaved 1F1B, p={p}, m={m}, timed workload: measured vs theory"),
}


def text(key: str, *values: Mapping | object, **more) -> str:
    """Sentence ``key`` in the student's language, filled from ``values`` (dicts, e.g. a result's
    ``to_dict()``, or dataclasses such as a ``studies.Run``: their fields) and ``more`` (keywords win)."""
    fields: dict = {}
    for mapping in values:
        fields.update(mapping if isinstance(mapping, Mapping) else
                      {f.name: getattr(mapping, f.name) for f in dataclasses.fields(mapping)})
    return _(TEXTS[key]).format(**{**fields, **more})


def say(key: str, *values: Mapping | object, **more) -> None:
    """Print sentence ``key`` (see :func:`text`)."""
    print(text(key, *values, **more))
