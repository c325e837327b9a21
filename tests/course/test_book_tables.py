"""Every derived number of the book is computed: the committed text of each computed block
(``<!-- computed: name(args) -->`` ... ``<!-- /computed -->`` in course/*.md and in the notebooks'
Markdown) equals what ``ppedu.instructor.book.blocks`` makes from ppedu's own functions now.

When a test here fails, run ``python -m ppedu.instructor.book.tables course notebooks`` and read the
diff: either the code changed a number (commit the new text) or a block's call is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ppedu.errors import UsageError
from ppedu.instructor.book import tables as book_tables
from ppedu.instructor.book.tables import MARKER, blocks, evaluate, file_blocks, rewrite

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "course").glob("*.md"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# the generators each page must use: a derived table or number typed back by hand fails here
REQUIRED = {
    "01_tp_vs_pp.md": {"tp_pp"},
    "02_bubbles.md": {"grid", "naive_percent", "makespan"},
    "03_micro_batches.md": {"grid", "idle_share_table", "share_expr", "percent", "peak", "layer_bytes",
                            "plan_table", "plan_gib", "chosen_m"},
    "04_1f1b.md": {"gantt_table", "makespan", "peak", "chunk_layers", "command_output"},
    "05_continuous_batching.md": {"serving_cost", "inflight_gains", "length_gains"},
    "source_errors.md": {"percent", "share_expr", "makespan", "simulated", "params_b", "params_gb",
                         "kv_token_gain", "event_start", "unplaced_layers"},
    "instructor.md": {"expected_table"},
}


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", PAGES + NOTEBOOKS, ids=lambda p: p.name)
def test_every_computed_block_equals_what_the_code_computes(path: Path) -> None:
    stale = [b for b in file_blocks(path) if b.stale]
    assert not stale, "stale computed blocks (run python -m ppedu.instructor.book.tables course notebooks):\n" + \
        "\n".join(f"{b.where}: {b.call}\n  committed {b.committed.strip()!r}\n  computed  {b.computed.strip()!r}"
                  for b in stale)


@pytest.mark.parametrize("page", sorted(REQUIRED))
def test_each_page_computes_its_derived_numbers(page: str) -> None:
    used = {b.call.split("(")[0] for b in file_blocks(ROOT / "course" / page)}
    missing = REQUIRED[page] - used
    assert not missing, f"course/{page} no longer computes {sorted(missing)}: typed numbers cannot be checked"


def test_no_idle_share_is_typed_outside_a_computed_block() -> None:
    """A 3-digit idle share or a percentage equal to one of (p-1)/(v m + p-1) (p <= 8, m <= 64)
    outside a computed block is a number someone typed: compute it instead."""
    from ppedu.schedules.theory import bubble_interleaved
    shares = {bubble_interleaved(p, m, v) for p in range(2, 9) for m in range(1, 65) for v in range(1, 5)}
    typed = {f"{x:.3f}" for x in shares} | {f"{100 * x:.1f} %" for x in shares}
    found = []
    for path in PAGES:
        text = MARKER.sub("", path.read_text(encoding="utf-8"))
        for n, line in enumerate(text.splitlines(), 1):
            found += [f"{_name(path)} (outside blocks, line {n}): {x}"
                      for x in re.findall(r"\b0\.\d{3}\b|\b[1-9]\d?\.\d %", line) if x in typed]
    assert not found, ("typed idle shares (wrap each in a computed block, e.g. "
                       "<!-- computed: simulated(\"zb1\", 4, 8, \"bubble\", tb=1.5, tw=0.5) -->):\n" + "\n".join(found))


def test_model_state_and_kv_gains_follow_their_formulas() -> None:
    """The generators the corrections page uses against the formulas written out here: a GPT-3
    layer is 12h^2 + 13h parameters (2 bytes each as fp16 weights, 16 under mixed-precision Adam),
    and the KV gain is vLLM's token share over the earlier systems' (Fig. 2)."""
    h = 12288
    stage = 12 * (12 * h * h + 13 * h)
    assert evaluate('params_b("gpt3-175b", "layer", layers=12, digits=1)') == f"{stage / 1e9:.1f}"
    assert evaluate('params_gb("gpt3-175b", "layer", "weights", layers=12)') == f"{2 * stage / 1e9:.0f}"
    assert evaluate('params_gb("gpt3-175b", "layer", "adam", layers=12)') == f"{16 * stage / 1e9:.0f}"
    assert evaluate("kv_token_gain()") == f"{0.963 / 0.382:.1f}–{0.963 / 0.204:.1f}" == "2.5–4.7"


@pytest.mark.parametrize("p, tf, tb", [(3, 1, 1), (4, 2, 3), (5, 1, 2)])
def test_naive_backward_starts_follow_the_dependency_chain(p: int, tf: float, tb: float) -> None:
    """A naive pipeline (m = 1): the forward crosses p stages, then rank r's backward waits for the
    p-1-r backwards after it, so it starts at p t_f + (p-1-r) t_b; rank r's forward at r t_f."""
    for r in range(p):
        assert evaluate(f'event_start("naive", {p}, 1, "B", {r}, tf={tf}, tb={tb})') == f"{p * tf + (p - 1 - r) * tb:g}"
        assert evaluate(f'event_start("naive", {p}, 1, "F", {r}, tf={tf}, tb={tb})') == f"{r * tf:g}"


@pytest.mark.parametrize("layers, p", [(30, 4), (7, 3), (48, 5), (10, 4)])
def test_unplaced_layers_are_those_the_seed_s_loop_never_reaches(layers: int, p: int) -> None:
    """Seed 001's code as it is written (``layers_per_rank = num_layers // pp_size``, rank r from
    ``r * layers_per_rank`` for ``layers_per_rank`` layers) leaves out the layers the generator names,
    and ``stage_layers``, the split ppedu uses, covers all of them."""
    from ppedu.planner.plan import stage_layers
    layers_per_rank = layers // p
    run = set()
    for pp_rank in range(p):
        layer_start = pp_rank * layers_per_rank
        run |= set(range(layer_start, layer_start + layers_per_rank))
    assert evaluate(f"unplaced_layers({layers}, {p}, sep=' ', last=' ')").split() == \
        [str(n) for n in range(layers) if n not in run]
    assert sum(stage_layers(layers, p)) == layers
    with pytest.raises(ValueError):
        evaluate(f"unplaced_layers({layers_per_rank * p}, {p})")      # nothing dropped: nothing to say


@pytest.mark.parametrize("layers, p", [(32, 4), (30, 4), (7, 3)])
def test_floor_split_ranges_are_the_seed_s_ranks(layers: int, p: int) -> None:
    """Notebook 01 shows seed 001's drawing of its split (``0–7, 8–15, ...``) as computed ranges:
    the same as rank r running ``r * layers_per_rank`` onwards in the seed's code as written."""
    layers_per_rank = layers // p
    seed = [f"{r * layers_per_rank}–{r * layers_per_rank + layers_per_rank - 1}" for r in range(p)]
    assert evaluate(f"floor_split_ranges({layers}, {p}, sep=' ')").split() == seed


def test_the_kv_gain_is_computed_from_the_shares_the_page_quotes() -> None:
    """The corrections page quotes vLLM's Fig. 2 before the gain computed from it: the quoted
    shares (earlier systems' lowest and highest, vLLM's) are the ones ``kv_token_gain`` divides."""
    from ppedu.serving.blocks import PUBLISHED_TOKEN_SHARE as shares
    earlier = [s for name, s in shares.items() if name != "vLLM"]
    used = {f"{100 * s:.1f}" for s in (min(earlier), max(earlier), shares["vLLM"])}
    for page in (ROOT / "course" / "source_errors.md", ROOT / "course" / "zh" / "source_errors.md"):
        row = next(line for line in page.read_text(encoding="utf-8").splitlines() if "kv_token_gain" in line)
        quoted = set(re.findall(r"\d+\.\d+", row.split("kv_token_gain")[0]))
        assert used <= quoted, f"{_name(page)}: quotes {sorted(quoted)}, kv_token_gain divides {sorted(used)}"


def test_a_wrong_number_is_caught_and_named() -> None:
    page = ROOT / "course" / "03_micro_batches.md"
    text = page.read_text(encoding="utf-8")
    wrong = text.replace("| 0.750 | 0.429 | 0.273 |", "| 0.750 | 0.429 | 0.270 |", 1)
    assert wrong != text, "the idle-share table moved: update this test"
    stale = [b for b in blocks(wrong, "ch3") if b.stale]
    assert [b.call.split("(")[0] for b in stale] == ["idle_share_table"]
    assert stale[0].where.startswith("ch3:")
    assert rewrite(wrong, "ch3") == text


def test_inline_block_keeps_its_form() -> None:
    text = 'idle <!-- computed: percent("gpipe", 4, 16) -->15 %<!-- /computed --> here'
    assert rewrite(text) == 'idle <!-- computed: percent("gpipe", 4, 16) -->15.8 %<!-- /computed --> here'
    assert evaluate('makespan(4, 4, fmt="$T = {}$")') == "$T = 14$"


@pytest.mark.parametrize("bad, words", [
    ("<!-- computed: nope(1) -->x<!-- /computed -->", "generator must be one of"),
    ("<!-- computed: percent(__import__('os')) -->x<!-- /computed -->", "literals"),
    ("<!-- computed: percent(\"gpipe\", 4, 16) -->x", "without"),
])
def test_bad_blocks_raise_usage_errors(bad: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        blocks(bad, "page")


def test_cli_check_and_rewrite(tmp_path: Path, capsys) -> None:
    page = tmp_path / "page.md"
    page.write_text('<!-- computed: makespan(4, 4) -->10<!-- /computed --> units\n', encoding="utf-8")
    assert book_tables.main(["--check", str(tmp_path)]) == 1
    assert "makespan(4, 4)" in capsys.readouterr().out
    assert book_tables.main([str(tmp_path)]) == 0
    assert page.read_text(encoding="utf-8") == '<!-- computed: makespan(4, 4) -->14<!-- /computed --> units\n'
    assert book_tables.main(["--check", str(page)]) == 0
    assert book_tables.main([str(tmp_path / "x.txt")]) == 2
