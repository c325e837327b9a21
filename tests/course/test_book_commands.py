"""Every ``ppedu`` command the book shows runs, and prints what the text says it prints (issue 21).

``ppedu.instructor.book.check.shown_commands`` finds the commands in course/*.md, README.md and the
notebooks' markdown (``` blocks and inline `code` spans). Each runs in this process through
``ppedu.cli.main`` (warm clusters are reused between commands of the same size), as written unless
one of the declared tables below says otherwise, and must exit 0 (or the status the text states):

  SUBSTITUTE   commands with placeholders (M, TF, S, ...) or sizes too slow for the suite: the
               values the text names, or smaller ones, each with its reason
  PARSE_ONLY   GPU / multi-node / class-grading commands: the arguments are parsed by the same
               parsers (torchrun's and ppedu's), the train config is built, world sizes add up
  EXIT         the exit status the text states when it is not 0

A table entry whose command the book no longer shows fails the test, so the tables cannot rot.
Where the text quotes an output next to a command (a bubble, a makespan, GiB, goodput), CHECKS
reads the number *from the book* (a regex on the page) and compares it with the run: exactly for
simulations and formulas (to the digits quoted), with the stated tolerance for timed runs. Where a
fenced block shows a command's output below it (English and Chinese pages, notebooks), the shown
lines must be what the command prints now (``...`` elides a run of lines).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ppedu.i18n import catalog
from ppedu.instructor.book.check import Shown, documents, output_mismatch, run_cli, shown_commands, shown_outputs

ROOT = Path(__file__).resolve().parents[2]
TIMED_TOL = 0.1          # timed runs: measured bubble within 0.1 of the quoted value (2 busy cores)

# A slow (rank-starting) command is one of these sub-commands without --simulate.
RANKS = {"train", "compare-tp-pp", "serve-bench", "serve-sweep"}

SUBSTITUTE: dict[str, tuple[list[str], str]] = {
    "ppedu train --schedule 1f1b -p 4 -m M --workload timed --tf TF --tb TB --latency-ms 5": (
        ["train --schedule 1f1b -p 4 -m 4 --workload timed --tf 10 --tb 10 --latency-ms 5",
         "train --schedule 1f1b -p 4 -m 8 --workload timed --tf 5 --tb 5 --latency-ms 5"],
        "placeholders: m = 4, 8 with --tf = --tb = T/m for T = 40 ms, as the text says"),
    "ppedu serve-bench --lengths lognormal --sigma S --requests 24 --max-batch 4 --output-len 8 "
    "--t0-ms 4 --c-ms 0.2": (
        ["serve-bench --lengths lognormal --sigma 1.5 --requests 24 --max-batch 4 --output-len 8 "
         "--t0-ms 4 --c-ms 0.2 --policy static",
         "serve-bench --lengths lognormal --sigma 1.5 --requests 24 --max-batch 4 --output-len 8 "
         "--t0-ms 4 --c-ms 0.2 --policy continuous"],
        "placeholder S: the text's largest spread, 1.5, with both policies it names"),
    "ppedu serve-bench --token-budget N": (
        ["serve-bench --token-budget 8 --simulate"], "placeholder N: the text's budget of 8"),
    "ppedu serve-bench --inflight K --policy continuous": (
        ["serve-bench --inflight 2 --policy continuous --simulate"],
        "placeholder K: K = p = 2 (the default p); simulated, the timed twin runs at 05:4"),
    "ppedu serve-sweep --rates 5,20,80,320 --slo-ttft 0.5 --slo-tpot 0.1 --json": (
        ["serve-sweep --rates 20,320 --requests 16 --slo-ttft 0.5 --slo-tpot 0.1 --json"],
        "11 s as written: two of its rates (below and past the knee), 16 requests"),
    "ppedu serve-sweep --rates 5,20,80,320 --slo-ttft 0.5 --slo-tpot 0.1": (
        ["serve-sweep --rates 20,320 --requests 16 --slo-ttft 0.5 --slo-tpot 0.1"],
        "as above, the table instead of JSON"),
    "ppedu compare-tp-pp -n 4": (
        [], "the same run as `compare-tp-pp -n 4 --json` (01:3), which runs; the table printer runs at -n 2"),
    "ppedu serve-sweep --workload timed --t0-ms 4 --c-ms 0.2 --rates 40,120,360": (
        ["serve-sweep --workload timed --t0-ms 4 --c-ms 0.2 --rates 40,360 --requests 16"],
        "two of its three rates, 16 requests"),
    "ppedu train --partition uniform|balanced|memory --workload model": (
        [f"train --partition {k} --workload model -p 2 -m 2" for k in ("uniform", "balanced", "memory")],
        "the per-stage cost table is the claim; p = 2, m = 2 keep it short"),
    "ppedu train --workload model --recompute none|selective|full --check-grads": (
        [f"train --workload model --recompute {k} --check-grads -p 2 -m 2" for k in ("none", "selective", "full")],
        "equal gradients are the claim; p = 2, m = 2 keep it short"),
    "ppedu student-copy --src notebooks --out student": (
        ["student-copy --src notebooks --out {tmp}/student"], "writes into a temporary folder"),
    "ppedu validate seed002_1f1b.md": (
        ["validate {tmp}/seed002_1f1b.md"], "the saved copy: the shipped table copied to a temp folder"),
}

PARSE_ONLY = {  # command -> why it is not run here
    "ppedu run-notebook notebooks/03_micro_batches.ipynb out/03.ipynb -p p 8 -p m 32 -p backend nccl": "GPU (nccl)",
    "ppedu run-notebook notebooks/04_1f1b.ipynb out/04.ipynb -p p 8 -p m 32 -p backend nccl": "GPU (nccl)",
    "ppedu run-notebook notebooks/05_continuous_batching.ipynb out/05.ipynb -p p 4 -p backend nccl": "GPU (nccl)",
    "ppedu run-notebook notebooks/03_micro_batches.ipynb out.ipynb -p p 8 -p m 32 -p backend nccl": "GPU (nccl)",
    "ppedu compare-tp-pp -n 8 --layers 8 --heads 8": "8 ranks: the multi-GPU node comparison; its flags are validated",
    "ppedu grade submissions/*.ipynb --csv scores.csv": "needs a class's submissions; runs whole notebooks",
    "ppedu grade submissions/alice/ submissions/bob/ --csv scores.csv --source notebooks --cell-timeout 120":
        "needs a class's submissions; runs whole notebooks",
}

EXIT = {"ppedu validate example:seed002_1f1b": 1, "ppedu validate seed002_1f1b.md": 1}


def book_text(source: str) -> str:
    """One page of the book (a notebook: its markdown joined), newlines collapsed for regexes."""
    path = ROOT / source
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    # a computed block's markers are invisible in the book: read the number as the reader sees it
    text = re.sub(r"<!-- /?computed[^>]*-->", "", text)
    return " ".join(text.split())


class Quoted(float):
    """A number as the book prints it: its value, and its digits (``text``)."""
    text: str


def quoted(source: str, pattern: str) -> list[Quoted]:
    """The numbers the book quotes (the groups of ``pattern`` on page ``source``)."""
    found = re.search(pattern, book_text(source))
    assert found, f"{source} no longer says {pattern!r}: update the check with the text"
    out = []
    for group in found.groups():
        number = Quoted(group)
        number.text = group
        out.append(number)
    return out


def cli(command: str, tmp: Path | None = None) -> tuple[int, str]:
    """Run ``ppedu ARGS`` in this process from the repository root: (exit status, stdout)."""
    return run_cli(command.replace("{tmp}", str(tmp)), cwd=ROOT)


def expand(text: str) -> list[str]:
    """``{a,b}`` and ``a|b|c`` inside one word -> one command per choice (shell-like)."""
    words = text.split()
    for i, word in enumerate(words):
        brace = re.fullmatch(r"(.*)\{([^{}]+,[^{}]+)\}(.*)", word)
        choices = ([brace.group(1) + c + brace.group(3) for c in brace.group(2).split(",")] if brace
                   else word.split("|") if "|" in word else None)
        if choices:
            return [x for c in choices for x in expand(" ".join([*words[:i], c, *words[i + 1:]]))]
    return [text]


def runs_for(cmd: Shown) -> list[str]:
    """The argument strings the test runs for a shown command (without ``ppedu``)."""
    if cmd.text in SUBSTITUTE:
        return SUBSTITUTE[cmd.text][0]
    return [" ".join(c.split()[1:]) for c in expand(cmd.text)]


def is_mention(cmd: Shown) -> bool:
    """`ppedu train` in prose names a sub-command; it is not a command line to run."""
    return len(cmd.argv) == 1 and not cmd.argv[0].startswith("-") and not cmd.fenced


def needs_ranks(args: str) -> bool:
    words = args.split()
    return words[0] in RANKS and "--simulate" not in words


def ranks_of(args: str) -> int:
    """How many ranks a command starts (-n for compare-tp-pp, -p else, with the CLI defaults):
    the slow test runs commands grouped by it, so each warm cluster starts once."""
    words = args.split()
    flag, default = ("-n", 2) if words[0] == "compare-tp-pp" else ("-p", 4 if words[0] == "train" else 2)
    return int(words[words.index(flag) + 1]) if flag in words else default


SHOWN = shown_commands(ROOT)
UNIQUE = {c.text: c for c in SHOWN}
TO_RUN = [c for c in UNIQUE.values() if not (is_mention(c) or c.torchrun or c.text in PARSE_ONLY)]
QUICK = [c for c in TO_RUN if not any(needs_ranks(a) for a in runs_for(c))]
WITH_RANKS = [c for c in TO_RUN if any(needs_ranks(a) for a in runs_for(c))]


# ---------------------------------------------------------------- quoted outputs (read from the book)

def _json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def _digits(x: float, quoted: Quoted, text: str) -> None:
    """``x`` rounds to the quoted number at the quoted number of decimals (1.70: two)."""
    decimals = len(quoted.text.split(".")[1]) if "." in quoted.text else 0
    assert f"{x:.{decimals}f}" == quoted.text, f"{text}: the run gives {x}, the book says {quoted.text}"


def check_naive_bubble(out: str, tmp: Path) -> None:
    (theory,) = quoted("course/02_bubbles.md", r"`theory_bubble_fraction` \((0\.\d+)\)")
    d = _json(out)
    _digits(d["theory_bubble_fraction"], theory, "naive p=4 theory")
    assert abs(d["measured_bubble_fraction"] - theory) < TIMED_TOL, d["measured_bubble_fraction"]


def check_gpipe_m32(out: str, tmp: Path) -> None:
    (close,) = quoted("course/03_micro_batches.md", r"`measured_bubble_fraction` close to (0\.\d+)")
    d = _json(out)
    _digits(d["theory_bubble_fraction"], close, "gpipe p=4 m=32 theory")
    assert abs(d["measured_bubble_fraction"] - close) < TIMED_TOL, d["measured_bubble_fraction"]


def check_seed002_rejected(out: str, tmp: Path) -> None:
    (says,) = re.findall(r"explains the first broken dependency in words: \*([^*]+)\*",
                         book_text("course/02_bubbles.md"))
    assert says in out, f"validate prints {out[:200]!r}, the book quotes {says!r}"


def check_1f1b_table(out: str, tmp: Path) -> None:
    (units,) = quoted("course/02_bubbles.md", r"accepts the correct table of chapter 4, which takes (\d+) units")
    last = max(int(row.split("|")[1]) for row in out.splitlines() if re.match(r"\|\s*\d+\s*\|", row))
    assert last + 1 == units, f"the table ends at t={last}, the book says {units} units"


def check_held_bytes(out: str, tmp: Path) -> None:
    """GPipe's rank 0 holds all m micro-batches, 1F1B's stops at p (timed: bytes held per message)."""
    gpipe = [r["peak_activation_bytes"] for r in _json(out)["per_rank"]]
    rc, other = cli("train --schedule 1f1b -p 4 -m 8 --json")
    one = [r["peak_activation_bytes"] for r in _json(other)["per_rank"]]
    unit = one[-1]                                   # the last rank holds one micro-batch
    assert rc == 0 and gpipe[0] == 8 * unit and one[0] == 4 * unit, (gpipe, one)


def check_model_held(out: str, tmp: Path) -> None:
    one = _json(out)["per_rank"]
    rc, other = cli("train --schedule gpipe -p 4 -m 16 --workload model --json")
    gpipe = _json(other)["per_rank"]
    assert rc == 0 and one[0]["peak_inflight_microbatches"] == 4 and gpipe[0]["peak_inflight_microbatches"] == 16
    assert gpipe[0]["peak_activation_bytes"] > 2 * one[0]["peak_activation_bytes"]


def check_serving_bubble(out: str, tmp: Path) -> None:
    (about,) = quoted("course/05_continuous_batching.md", r"`decode_bubble_fraction` ≈ (0\.\d+)")
    k1 = _json(out)["decode_bubble_fraction"]
    rc, other = cli("serve-bench --policy continuous -p 4 --inflight 4 --simulate --json")
    assert abs(k1 - about) < 0.05, f"K=1 decode bubble {k1}, the book says ≈ {about}"
    assert rc == 0 and _json(other)["decode_bubble_fraction"] < k1   # "`--inflight 4` lowers it"


def check_tb2(out: str, tmp: Path) -> None:
    long, short, bubble = quoted("course/source_errors.md",
                                 r"\(makespan (\d+) instead of (\d+), bubble (0\.\d+) both\)")
    d = _json(cli("simulate --schedule 1f1b -p 4 -m 4 --tb 2 --json")[1])
    e = _json(cli("simulate --schedule 1f1b -p 4 -m 4 --json")[1])
    assert (d["makespan"], e["makespan"]) == (long, short)
    _digits(d["bubble_fraction"], bubble, "tb=2")
    _digits(e["bubble_fraction"], bubble, "tb=1")


def check_naive_backward(out: str, tmp: Path) -> None:
    g2, g1, g0 = quoted("course/source_errors.md", r"GPU2 at \$t=(\d+)\$, GPU1 at (\d+), GPU0 at (\d+)")
    rows = [[c.strip() for c in r.strip("|").split("|")] for r in out.splitlines() if re.match(r"\|\s*\d", r)]
    when = {gpu: int(row[0]) for row in rows for gpu, cell in enumerate(row[1:]) if cell.startswith("B")}
    assert (when[2], when[1], when[0]) == (g2, g1, g0), when


def check_choose_m(out: str, tmp: Path) -> None:
    page = "course/03_micro_batches.md"
    (upto,) = quoted(page, r"finds that \$m \\le (\d+)\$ does not fit")
    gib4, m4, b4 = quoted(page, r"\((\d+) GiB at the seed's \$m = (\d+)\$, \$b = (\d+)\$\)")
    m, b, gib, bub = quoted(page, r"picks \$m = (\d+)\$ \(\$b = (\d+)\$, ([\d.]+) GiB, bubble ([\d.]+) %\)")
    rows = {int(r.split()[0]): r.split() for r in out.splitlines() if re.match(r"\s*\d+\s+\d+\s+0\.\d+", r)}
    assert all(rows[k][4] == "no" for k in rows if k <= upto) and rows[m][4] == "yes", rows
    assert int(rows[m4][1]) == b4 and round(float(rows[m4][3])) == gib4
    assert int(rows[m][1]) == b and float(rows[m][3]) == gib and round(100 * float(rows[m][2]), 1) == bub
    assert f"chosen: m={int(m)}" in out


def check_gpt3_plan(out: str, tmp: Path) -> None:
    page = "course/03_micro_batches.md"
    total, acts = quoted(page, r"\| \+ SP \+ selective recomputation \| ([\d.]+) \(([\d.]+)\) \| yes \|")
    (state,) = quoted(page, r"model state alone is ([\d.]+) GiB per GPU")
    (bubble,) = quoted(page, r"the bubble is \$7/71 = ([\d.]+)\\,\\%")
    got = re.search(r"FITS: rank 0 needs ([\d.]+) GiB.*activations ([\d.]+) GiB", out)
    assert got and (float(got.group(1)), float(got.group(2))) == (total, acts), out[-600:]
    d = _json(cli("plan --model gpt3-175b --tp 8 -p 8 -m 64 --recompute selective --json")[1])
    model_state = sum(d[k] for k in ("param_bytes_per_gpu", "grad_bytes_per_gpu", "optimizer_bytes_per_gpu"))
    assert round(model_state / 2 ** 30, 1) == state, model_state / 2 ** 30
    assert f"bubble (idle fraction) {bubble / 100:.3f}" in out


def check_budget_goodput(out: str, tmp: Path) -> None:
    plain, chunked = quoted("notebooks/05_continuous_batching.ipynb",
                            r"at 120 requests/s goodput is (\d+) req/s without chunking and (\d+) with a budget")
    (shown,) = [t for t in UNIQUE if t.startswith("ppedu serve-sweep --simulate") and "--token-budget 32" in t]
    args = " ".join(shown.replace("--token-budget 32", "").split()[1:])
    at120 = {}
    for label, extra in (("chunked", " --token-budget 32 --json"), ("plain", " --json")):
        point = [p for p in _json(cli(args + extra)[1])["points"] if p["rate"] == 120][0]
        at120[label] = round(point["goodput_req_s"])
    assert at120 == {"chunked": chunked, "plain": plain}, at120


def check_spread_gain(out: str, tmp: Path) -> None:
    """Continuous / static throughput at the text's three spreads, by the cost model alone:
    the command with the flags the text names, simulated (exact to the quoted digits)."""
    page = "course/05_continuous_batching.md"
    sigmas = quoted(page, r"growing spread \$\\sigma = ([\d.]+), ([\d.]+), ([\d.]+)\$")
    named = re.findall(r"the command below with `([^`]+)`", book_text(page))
    # the text names the flags of its cost model, or says it charges no message costs
    (flags,) = named or (["--simulate --hop-ms 0"] if "(no message costs)" in book_text(page) else [])
    gains = quoted(page, r"gives ([\d.]+), ([\d.]+) and ([\d.]+)\.")
    (shown,) = [t for t in UNIQUE if t.startswith("ppedu serve-bench --lengths lognormal --sigma S")]
    for sigma, gain in zip(sigmas, gains):
        args = " ".join(shown.split()[1:]).replace("--sigma S", f"--sigma {sigma:g}") + f" {flags} --json"
        tok = {pol: _json(cli(f"{args} --policy {pol}")[1])["throughput_tok_s"] for pol in ("static", "continuous")}
        _digits(tok["continuous"] / tok["static"], gain, f"sigma={sigma:g}")


def check_link_delay(out: str, tmp: Path) -> None:
    """The link model's extra time: TP pays every all-reduce's 2(n-1) latencies, exactly;
    PP at most one latency per rank (a rank still computing when the message lands does not wait)."""
    ms, most = quoted("course/01_tp_vs_pp.md", r"`link_delay_s` grows by \$4L \\times 2 \\times (\d+)\$ ms "
                      r"for TP \(at \$n = 2\$ a ring all-reduce is 2 steps\) and by at most (\d+) ms for PP")

    def delays(text: str) -> tuple[int, list[float]]:
        layers = int(re.search(r"GPT (\d+) layers", text).group(1))
        row = re.search(r"of which link model\s+([\d.]+) ms\s+([\d.]+) ms", text)
        return layers, [float(row.group(1)), float(row.group(2))]

    layers, (tp0, pp0) = delays(out)
    rc, slow = cli(f"compare-tp-pp -n 2 --latency-ms {ms:g}")
    _, (tp, pp) = delays(slow)
    assert rc == 0 and round(tp - tp0, 1) == 4 * layers * 2 * ms, (tp0, tp)
    assert 0 <= pp - pp0 <= most + 0.1, (pp0, pp)


def check_keys(page: str, pattern: str, pick):
    """The JSON keys a page says a command prints (`name` spans after ``pattern``) are printed."""
    def check(out: str, tmp: Path) -> None:
        found = re.search(pattern, book_text(page))
        assert found, f"{page} no longer says {pattern!r}"
        names = re.findall(r"`(\w+)`", found.group(0))
        assert names and set(names) <= set(pick(_json(out))), (names, sorted(pick(_json(out))))
    return check


def check_policy_knobs(out: str, tmp: Path) -> None:
    """05's myth box: `--inflight 2` lowers the decode bubble under either policy, `continuous`
    raises mean_occupancy at either K (simulated: exact, no tolerance needed)."""
    base = "serve-bench -p 2 --requests 64 --lengths exponential --simulate --json"
    runs = {(pol, k): _json(cli(f"{base} --policy {pol} --inflight {k}")[1])
            for pol in ("static", "continuous") for k in (1, 2)}
    for pol in ("static", "continuous"):
        assert runs[pol, 2]["decode_bubble_fraction"] < runs[pol, 1]["decode_bubble_fraction"], pol
    for k in (1, 2):
        assert runs["continuous", k]["mean_occupancy"] > runs["static", k]["mean_occupancy"], k


def check_held(out: str, tmp: Path) -> None:
    """"GPipe holds the whole batch's activations whatever m is; 1F1B holds at most p micro-batches"."""
    schedule, p, m = re.search(r"^(\w+) p=(\d+) m=(\d+)", out, re.M).groups()
    held = [int(n) for n in re.findall(r"peak activations (\d+) micro-batch", out)]
    assert held[0] == (int(m) if schedule == "gpipe" else int(p)), (schedule, held)


def check_grads_equal(out: str, tmp: Path) -> None:
    (diff,) = re.findall(r"max \|diff\| = (\S+)", out)
    assert float(diff) < 1e-6, f"gradients differ by {diff} (the book: ~1e-7)"


def check_stage_costs(out: str, tmp: Path) -> None:
    assert re.search(r"imbalance \(max/mean\) = [\d.]+", out), "no per-stage cost table"


def check_forward_only(out: str, tmp: Path) -> None:
    rows = [r for r in out.splitlines() if re.match(r"\|\s*\d", r)]
    assert rows and not any(re.search(r"\bB\d", r) for r in rows) and any("F" in r for r in rows)


def check_gpipe_phases(out: str, tmp: Path) -> None:
    """All forwards, then all backwards, on every GPU; 1F1B mixes them."""
    def mixes(text: str) -> bool:
        rows = [[c.strip() for c in r.strip("|").split("|")[1:]] for r in text.splitlines() if re.match(r"\|\s*\d", r)]
        cols = [[row[g] for row in rows if row[g] != "-"] for g in range(len(rows[0]))]
        return any("F" in "".join(c[1:][i:]) and c[i].startswith("B") for c in cols for i in range(len(c)))
    assert not mixes(out) and mixes(cli("simulate --schedule 1f1b -p 4 -m 4")[1])


CHECKS = {
    "ppedu train --schedule naive -p 4 -m 1 --workload timed --tf 20 --tb 20 --json": check_naive_bubble,
    "ppedu train --schedule gpipe -p 4 -m 32 --workload timed --json": check_gpipe_m32,
    "ppedu validate example:seed002_1f1b": check_seed002_rejected,
    "ppedu validate example:1f1b_p4_m4": check_1f1b_table,
    "ppedu train --schedule gpipe -p 4 -m 8 --json": check_held_bytes,
    "ppedu train --schedule 1f1b -p 4 -m 16 --workload model --json": check_model_held,
    "ppedu serve-bench --policy continuous -p 4 --inflight 1 --simulate --json": check_serving_bubble,
    "ppedu simulate --schedule 1f1b -p 4 -m 4 --tb 2": check_tb2,
    "ppedu simulate --schedule naive -p 3 -m 1": check_naive_backward,
    "ppedu plan --model seed002-48l --tp 8 -p 4 --choose-m --global-batch 64 --max-bubble 0.2": check_choose_m,
    "ppedu plan --model gpt3-175b --tp 8 -p 8 -m 64 --recompute selective": check_gpt3_plan,
    "ppedu serve-sweep --simulate -p 2 --inflight 2 --max-batch 4 --requests 32 --t0-ms 4 --c-ms 0.2 "
    "--hop-ms 0.9 --lengths lognormal --prompt-len 48 --prompt-lengths uniform --rates 20,40,120 "
    "--slo-ttft 0.3 --slo-tpot 0.03 --token-budget 32": check_budget_goodput,
    "ppedu compare-tp-pp -n 2": check_link_delay,
    "ppedu serve-bench --lengths lognormal --sigma S --requests 24 --max-batch 4 --output-len 8 "
    "--t0-ms 4 --c-ms 0.2": check_spread_gain,
    "ppedu compare-tp-pp -n 4 --json": check_keys(
        "course/01_tp_vs_pp.md", r"prints, for each, `messages`.*?`param_bytes_per_rank`", lambda d: d["tp"]),
    "ppedu serve-sweep --rates 5,20,80,320 --slo-ttft 0.5 --slo-tpot 0.1 --json": check_keys(
        "course/05_continuous_batching.md", r"prints `points` with `rate`.*?`slo_attainment`",
        lambda d: {"points", *d["points"][0]}),
    "ppedu serve-bench -p 2 --requests 64 --lengths exponential --simulate": check_policy_knobs,
    "ppedu train --schedule 1f1b -p 2 -m 4 --workload model --check-grads": check_grads_equal,
    "ppedu train --schedule interleaved -p 2 -m 4 --v 2 --workload model --check-grads": check_grads_equal,
    "ppedu train --workload model --recompute none|selective|full --check-grads": check_grads_equal,
    "ppedu train --partition uniform|balanced|memory --workload model": check_stage_costs,
    "ppedu simulate --schedule forward-only -p 2 -m 4": check_forward_only,
    "ppedu train --schedule {gpipe,1f1b} -p 2 -m 8 --workload model": check_held,
    "ppedu simulate --schedule gpipe -p 4 -m 4": check_gpipe_phases,
}


# ---------------------------------------------------------------- the tests

def test_extractor_finds_fenced_inline_wrapped_and_notebook_commands(tmp_path: Path) -> None:
    """A known little book: the extractor finds exactly its 5 commands and no fragment."""
    (tmp_path / "course").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "course" / "a.md").write_text(
        "Run `ppedu simulate -p 2` or `ppedu train --schedule gpipe\n-p 4` but not `--schedule 1f1b`.\n"
        "```bash\nppedu doctor   # a comment\ntorchrun --nproc-per-node=2 \\\n  -m ppedu.cli train -p 2\n"
        "pip install x\n```\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("Plain `ppedu` is the package.\n", encoding="utf-8")
    cells = [{"cell_type": "code", "source": ["`ppedu plan --tp 2`"]},
             {"cell_type": "markdown", "source": ["Also `ppedu plan --tp 2`."]}]
    (tmp_path / "notebooks" / "n.ipynb").write_text(json.dumps({"cells": cells}), encoding="utf-8")
    found = [(c.where, c.text, c.fenced) for c in shown_commands(tmp_path)]
    assert [(c[1], c[2]) for c in found] == [
        ("ppedu doctor", True), ("torchrun --nproc-per-node=2 -m ppedu.cli train -p 2", True),
        ("ppedu simulate -p 2", False), ("ppedu train --schedule gpipe -p 4", False),
        ("ppedu plan --tp 2", False)]
    assert [c[0] for c in found] == ["course/a.md:4", "course/a.md:5", "course/a.md:1", "course/a.md:1",
                                     "notebooks/n.ipynb:1"]


def test_the_book_shows_commands_everywhere() -> None:
    """The real book: dozens of commands in the chapters, README and notebooks (never silently none)."""
    sources = {c.source for c in SHOWN}
    assert len(UNIQUE) >= 60, len(UNIQUE)
    assert {"README.md", "course/02_bubbles.md", "course/05_continuous_batching.md", "course/instructor.md",
            "notebooks/05_continuous_batching.ipynb"} <= sources
    assert len(QUICK) >= 15 and len(WITH_RANKS) >= 15


def test_declared_tables_name_commands_the_book_shows() -> None:
    """Every substitution, parse-only entry, exit status and check refers to a command still shown."""
    for table in (SUBSTITUTE, PARSE_ONLY, EXIT, CHECKS):
        stale = [k for k in table if k not in UNIQUE]
        assert not stale, f"the book no longer shows {stale}: update the table with the text"
    placeholders = [c.where + " " + c.text for c in TO_RUN if c.text not in SUBSTITUTE
                    and re.search(r"\s(-[-\w]+ )?[A-Z]{1,2}(\s|$)|\.\.\.", c.text)]
    assert not placeholders, f"commands with placeholders need a SUBSTITUTE entry: {placeholders}"


def test_mentioned_subcommands_exist() -> None:
    from ppedu.cli import COMMANDS
    names = {c.argv[0] for c in UNIQUE.values() if is_mention(c)}
    assert names and names <= set(COMMANDS), names - set(COMMANDS)


def _run_all(commands: list[Shown], tmp: Path) -> None:
    """Run every command's argument lists, fewest ranks first (each warm cluster starts once)."""
    shutil.copy(ROOT / "ppedu" / "assets" / "seed002_1f1b.md", tmp / "seed002_1f1b.md")
    failed = []
    runs = sorted(((ranks_of(args), args, cmd) for cmd in commands for args in runs_for(cmd)),
                  key=lambda run: run[:2])
    for _, args, cmd in runs:
        rc, out = cli(args, tmp)
        if rc != EXIT.get(cmd.text, 0):
            failed.append(f"{cmd.where}: `ppedu {args}` exited {rc}")
        elif cmd.text in CHECKS:
            try:
                CHECKS[cmd.text](out, tmp)
            except AssertionError as exc:
                failed.append(f"{cmd.where}: `{cmd.text}`: {exc}")
    assert not failed, "\n".join(failed)


@pytest.mark.timeout(120)
def test_quick_commands_run_and_print_what_the_book_says(tmp_path: Path) -> None:
    """simulate, validate, plan, doctor, --help, student-copy, simulated serving (no ranks)."""
    _run_all(QUICK, tmp_path)


@pytest.mark.ranks
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_commands_with_ranks_run_and_print_what_the_book_says(tmp_path: Path) -> None:
    """train, compare-tp-pp, serve-bench, serve-sweep on real ranks, grouped by size (warm clusters)."""
    _run_all(WITH_RANKS, tmp_path)


def _chinese_documents() -> list[tuple[str, int | None, str]]:
    zh = ROOT / "course" / "zh"
    return [(p.relative_to(ROOT).as_posix(), None, p.read_text(encoding="utf-8"))
            for p in sorted(zh.glob("*.md")) + sorted((zh / "notebooks").glob("*.md"))]


OUTPUTS = shown_outputs(documents(ROOT) + _chinese_documents())


def test_shown_outputs_are_what_the_commands_print() -> None:
    """Every fenced command output of the book (chapter 4's zb2 run, in English and in Chinese) is
    what the command prints now, in the page's language, line for line; a timed run's output
    cannot be shown verbatim."""
    assert {o.where.split(":")[0] for o in OUTPUTS} >= {"course/04_1f1b.md", "course/zh/04_1f1b.md"}
    failed = []
    for shown in OUTPUTS:
        assert not needs_ranks(shown.command), \
            f"{shown.where}: a timed run's output varies; quote its numbers in prose with a CHECKS entry"
        with catalog.speaking("zh" if shown.where.startswith("course/zh/") else "en"):
            rc, out = cli(shown.command)
        wrong = output_mismatch(shown.lines, out)
        if rc != 0 or wrong is not None:
            failed.append(f"{shown.where}: `ppedu {shown.command}` (exit {rc}) does not print {wrong!r} there")
    assert not failed, "\n".join(failed)


def test_dots_in_a_shown_output_elide_at_least_one_line() -> None:
    printed = "a\nb\nc\nd\n"
    agree = [("a", "b", "c", "d"), ("a", "...", "d"), ("...", "c", "d"), ("a", "..."), ("a", "...", "...", "d")]
    assert all(output_mismatch(shown, printed) is None for shown in agree)
    differ = {("a", "c"): "a", ("a", "...", "b", "...", "d"): "b", ("a", "b", "c"): "a", ("a", "...", "x"): "x",
              ("a", "b", "x", "d"): "x", ("a", "b", "c", "d", "..."): "... (no line left to elide)"}
    assert {shown: output_mismatch(shown, printed) for shown in differ} == differ


def test_a_changed_line_of_a_shown_output_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "_chosen", "en")
    shown = next(o for o in OUTPUTS if o.where.startswith("course/04_1f1b.md"))
    out = cli(shown.command)[1]
    (makespan,) = [line for line in shown.lines if line.startswith("makespan")]
    typed = tuple(line + "0" if line == makespan else line for line in shown.lines)
    assert output_mismatch(shown.lines, out) is None and output_mismatch(typed, out) == makespan + "0"
    assert output_mismatch(shown.lines[:-1], out) is not None     # a line left out is caught too


def test_gpu_and_multinode_commands_parse() -> None:
    """torchrun lines: torchrun's own parser accepts them, nnodes x nproc = -p, and ppedu builds the
    train config; GPU notebook runs and grading: ppedu's parser accepts them, notebook parameters exist."""
    import importlib
    from torch.distributed.run import get_args_parser
    from ppedu.cli import COMMANDS, OneLineParser
    from ppedu.commands import train
    from ppedu.instructor.headless import parameter_names
    from ppedu.schedules.builders import default_v
    from ppedu.training.engine import TrainConfig

    torchrun = [c for c in UNIQUE.values() if c.torchrun]
    assert len(torchrun) >= 4
    for cmd in torchrun:
        words = cmd.text.split()[1:]
        launch = get_args_parser().parse_args(words)
        assert launch.module and launch.training_script == "ppedu.cli", cmd.where
        world = int(launch.nnodes.split(":")[-1]) * int(launch.nproc_per_node)
        parser = OneLineParser(prog="ppedu train")
        train.add_arguments(parser)
        assert launch.training_script_args[0] == "train", cmd.where
        args = parser.parse_args(launch.training_script_args[1:])
        assert args.p == world, f"{cmd.where}: {world} processes for -p {args.p}"
        TrainConfig(schedule=args.schedule, p=args.p, m=args.m, workload=args.workload,
                    v=args.v if args.v is not None else default_v(args.schedule))
    for text in PARSE_ONLY:
        cmd = UNIQUE[text]
        name = cmd.argv[0]
        parser = OneLineParser(prog=f"ppedu {name}")
        importlib.import_module(f"ppedu.commands.{COMMANDS[name]}").add_arguments(parser)
        args = parser.parse_args(cmd.argv[1:])
        module = importlib.import_module(f"ppedu.commands.{COMMANDS[name]}")
        if hasattr(module, "validate"):                   # every flag checked before ranks start
            module.validate(args)
        if name == "run-notebook":
            known = set(parameter_names(ROOT / args.notebook))
            given = {k for k, _ in args.parameter}
            assert given and given <= known, f"{cmd.where}: {given - known} are not parameters of {args.notebook}"
