"""Read schedules written the way textbooks print them: a Markdown table, one row per time
step, one column per GPU.

    | 时间 t | GPU0 | GPU1 | 说明 |
    |--------|------|------|------|
    | 0      | F_1  | -    | warm-up |
    | 1      | F_2  | F_1  |      |

Cells: ``F_1``, ``B3``, ``W_2``, ``F1c1`` (chunk 1), ``-`` or empty for idle; ``**bold**`` and
backticks are ignored. Columns whose header is not ``GPU<n>`` / ``rank <n>`` (time, comments,
"阶段") are ignored. Micro-batches count from 1 if the smallest number is 1 and no 0 appears,
else from 0. A cell we cannot read raises a UsageError with its line number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from ppedu.errors import UsageError, check_choice
from ppedu.i18n.catalog import N_, _
from ppedu.schedules.actions import ACTION_LABEL, MAX_M, MAX_P, MAX_V, PLACEMENTS, Action, Schedule
from ppedu.schedules.timeline import Event, Timeline

EXAMPLES = ("1f1b_p4_m4", "seed002_1f1b")
# the longest step a table may name: every action of the largest schedule one after another
# on one GPU (F, B and W of MAX_M micro-batches in MAX_V chunks), with room for idle rows
MAX_STEP = 4 * MAX_M * MAX_V

_GPU_HEADER = re.compile(r"^(?:GPU|rank|device)\s*_?\s*(\d+)", re.IGNORECASE)
_TIME_HEADER = re.compile(r"^(?:t|time|step|时间|时刻)\b|^时间|^时刻", re.IGNORECASE)
_IDLE = {"", "-", "--", "—", "–", ".", "idle", "空闲", "bubble", "气泡"}


@dataclass
class TimedSchedule:
    """A schedule plus the time step of every action: ``steps[r][i]`` for ``schedule.ranks[r][i]``."""

    schedule: Schedule
    steps: list[list[int]]
    one_based: bool = False

    def timeline(self) -> Timeline:
        """Unit-length events, time 0 = the table's first step."""
        first = min((t for row in self.steps for t in row), default=0)
        events = [Event(r, a.kind, a.mb, a.chunk, t - first, t - first + 1)
                  for r, acts in enumerate(self.schedule.ranks)
                  for a, t in zip(acts, self.steps[r])]
        return Timeline(events, self.schedule.p)


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    return [c.strip() for c in inner.split("|")]


def _clean(cell: str) -> str:
    return cell.replace("*", "").replace("`", "").replace("$", "").strip()


def _number(text: str, what: str, hi: int, where: str) -> int:
    """``text`` (digits) as an int in 0..hi, else the one-line range error.

    Checked on the digits before ``int()``: a cell like ``F_100000000`` would otherwise make
    every later step (completeness, timeline) scale with the number, not with the table.
    """
    if len(text) > len(str(hi)) or int(text) > hi:
        raise UsageError(_("{where}: {what} must be an integer in 0..{hi} (got {value})").format(
            where=where, what=_(what), hi=hi, value=text[:12] + ("..." if len(text) > 12 else "")))
    return int(text)


def _read_header(header_no: int, header: str) -> tuple[dict[int, int], int | None, int]:
    """(column index -> rank, time column or None, number of the first GPU) from the header."""
    columns: dict[int, int] = {}  # column index -> GPU number
    time_column = None
    where = _("line {n}").format(n=header_no)
    for i, cell in enumerate(_cells(header)):
        cell = _clean(cell)
        if (match := _GPU_HEADER.match(cell)) is not None:
            columns[i] = _number(match.group(1), N_("the GPU number"), MAX_P, where)
        elif time_column is None and _TIME_HEADER.match(cell):
            time_column = i
    if not columns:
        raise UsageError(_("{where}: no GPU columns in the header {header}; expected e.g. | t | GPU0 | GPU1 |").format(
            where=where, header=repr(header.strip())))
    gpus = sorted(columns.values())
    if gpus != list(range(gpus[0], gpus[0] + len(gpus))):
        raise UsageError(_("{where}: GPU columns must be numbered without gaps (got {gpus})").format(
            where=where, gpus=", ".join(f"GPU{g}" for g in gpus)))
    if len(gpus) > MAX_P:
        raise UsageError(_("{where}: p (GPU columns) must be an integer in 1..{hi} (got {n})").format(
            where=where, hi=MAX_P, n=len(gpus)))
    return {col: gpu - gpus[0] for col, gpu in columns.items()}, time_column, gpus[0]


def _read_cell(cell: str, number: int, gpu: int, line: str) -> tuple[str, int, int] | None:
    """(kind, micro-batch as written, chunk) of one cell, None when idle."""
    if cell.lower() in _IDLE:
        return None
    match = ACTION_LABEL.match(cell)
    if match is None:
        raise UsageError(_("line {n}: cannot read cell {cell} for GPU{gpu} (expected F_1, B3, W_2, F1c1, - or "
                           "empty): {line}").format(n=number, cell=repr(cell[:40]), gpu=gpu, line=line.strip()[:200]))
    where = _("line {n}, GPU{gpu}").format(n=number, gpu=gpu)
    mb = _number(match.group(2), N_("the micro-batch number"), MAX_M, where)
    chunk = _number(match.group(3) or "0", N_("the chunk"), MAX_V - 1, where)
    return match.group(1).upper(), mb, chunk


def _read_rows(lines: list[tuple[int, str]], rank_of: dict[int, int], time_column: int | None,
               first_gpu: int) -> list[tuple[int, int, str, int, int]]:
    """Every non-idle cell as (rank, time step, kind, micro-batch as written, chunk)."""
    cells: list[tuple[int, int, str, int, int]] = []
    seen_times: dict[int, int] = {}
    for number, line in lines:
        values = _cells(line)
        if all(re.fullmatch(r":?-{2,}:?", v.strip()) for v in values if v.strip()):
            continue  # the |---|---| separator
        t = len(seen_times)
        if time_column is not None and time_column < len(values):
            raw = _clean(values[time_column])
            if not re.fullmatch(r"\d+", raw):
                raise UsageError(_("line {n}: time step {raw} is not a whole number: {line}").format(
                    n=number, raw=repr(raw[:40]), line=line.strip()[:200]))
            t = _number(raw, N_("the time step"), MAX_STEP, _("line {n}").format(n=number))
        if t in seen_times:
            raise UsageError(_("line {n}: time step {t} already used on line {first}").format(
                n=number, t=t, first=seen_times[t]))
        seen_times[t] = number
        for col, rank in rank_of.items():
            read = _read_cell(_clean(values[col]) if col < len(values) else "", number,
                              rank + first_gpu, line)
            if read is not None:
                cells.append((rank, t, *read))
    return cells


def parse_markdown_table(text: str, placement: str = "loop") -> TimedSchedule:
    """Parse the first Markdown table in ``text`` into a ``TimedSchedule``.

    ``placement`` says which stage a chunk is (a table cannot): ``loop`` (Megatron, chunk c of
    GPU r is stage c*p + r) or ``v`` (ZB-V: chunk 1 of GPU r is stage 2p-1-r).

    Sizes are capped at the library's limits (``MAX_P`` GPUs, ``MAX_M`` micro-batches,
    ``MAX_V`` chunks, ``MAX_STEP`` time steps): a larger number is a one-line UsageError.
    """
    if not isinstance(text, str):
        raise UsageError(_("text must be a string holding a Markdown table (got {type})").format(
            type=type(text).__name__))
    check_choice("placement", placement, PLACEMENTS)
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip().startswith("|")]
    if not lines:
        raise UsageError(_("no Markdown table found: expected lines like | t | GPU0 | GPU1 |"))
    header_no, header = lines[0]
    rank_of, time_column, first_gpu = _read_header(header_no, header)
    cells = _read_rows(lines[1:], rank_of, time_column, first_gpu)
    if not cells:
        raise UsageError(_("line {n}: the table has no actions (only idle cells)").format(n=header_no))
    numbers = {mb for _, _, _, mb, _ in cells}
    one_based = min(numbers) == 1 and 0 not in numbers
    m = max(numbers) + (0 if one_based else 1)
    if m > MAX_M:  # F_0 .. F_1024 is 1025 micro-batches
        raise UsageError(_("m (micro-batches in the table) must be an integer in 1..{hi} (got {m})").format(
            hi=MAX_M, m=m))
    p = len(rank_of)
    ranks: list[list[Action]] = [[] for _ in range(p)]
    steps: list[list[int]] = [[] for _ in range(p)]
    for rank, t, kind, mb, chunk in sorted(cells, key=lambda c: (c[0], c[1])):
        ranks[rank].append(Action(kind, mb - one_based, chunk))
        steps[rank].append(t)
    v = max(chunk for *_, chunk in cells) + 1
    # every backward split (each B has its W): W is then required everywhere; a table that splits
    # only some (DualPipeV's tail) is checked for the W's it has
    has = {kind: {(r, c, mb) for r, _, k, mb, c in cells if k == kind} for kind in ("B", "W")}
    split = bool(has["W"]) and has["B"] <= has["W"]
    return TimedSchedule(Schedule("table", p, m, v, ranks, split, placement), steps, one_based)


def load_example(name: str) -> TimedSchedule:
    """A table shipped in ``ppedu/assets/<name>.md``: ``1f1b_p4_m4`` (correct) or
    ``seed002_1f1b`` (a published 1F1B table that breaks dependencies: source document 002
    of the course, course/source_errors.md)."""
    check_choice("example", name, EXAMPLES)
    return parse_markdown_table(example_text(name))


def example_text(name: str) -> str:
    """The shipped table ``name`` as a reader sees it: the file's leading comment (notes for the
    course's authors, which say where a correct table lives) is left out."""
    text = resources.files("ppedu").joinpath(f"assets/{name}.md").read_text(encoding="utf-8")
    if text.lstrip().startswith("<!--") and "-->" in text:
        text = text.split("-->", 1)[1].lstrip("\n")
    return text
