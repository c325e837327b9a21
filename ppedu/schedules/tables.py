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

from ppedu.errors import UsageError
from ppedu.schedules.actions import Action, Schedule
from ppedu.schedules.timeline import Event, Timeline

EXAMPLES = ("1f1b_p4_m4", "seed002_1f1b")

_GPU_HEADER = re.compile(r"^(?:GPU|rank|device)\s*_?\s*(\d+)", re.IGNORECASE)
_TIME_HEADER = re.compile(r"^(?:t|time|step|时间|时刻)\b|^时间|^时刻", re.IGNORECASE)
_CELL = re.compile(r"^([FBW])\s*_?\s*\{?(\d+)\}?(?:\s*c\s*(\d+))?$", re.IGNORECASE)
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


def parse_markdown_table(text: str) -> TimedSchedule:
    """Parse the first Markdown table in ``text`` into a ``TimedSchedule``."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip().startswith("|")]
    if not lines:
        raise UsageError("no Markdown table found: expected lines like | t | GPU0 | GPU1 |")
    header_no, header = lines[0]
    columns: dict[int, int] = {}  # column index -> GPU number
    time_column = None
    for i, cell in enumerate(_cells(header)):
        cell = _clean(cell)
        if (match := _GPU_HEADER.match(cell)) is not None:
            columns[i] = int(match.group(1))
        elif time_column is None and _TIME_HEADER.match(cell):
            time_column = i
    if not columns:
        raise UsageError(f"line {header_no}: no GPU columns in the header {header.strip()!r}; "
                         f"expected e.g. | t | GPU0 | GPU1 |")
    gpus = sorted(columns.values())
    if gpus != list(range(gpus[0], gpus[0] + len(gpus))):
        raise UsageError(f"line {header_no}: GPU columns must be numbered without gaps "
                         f"(got {', '.join(f'GPU{g}' for g in gpus)})")
    rank_of = {col: gpu - gpus[0] for col, gpu in columns.items()}

    cells: list[tuple[int, int, str, str, int]] = []  # (rank, time, kind, mb/chunk...) raw
    seen_times: dict[int, int] = {}
    row = 0
    for number, line in lines[1:]:
        values = _cells(line)
        if all(re.fullmatch(r":?-{2,}:?", v.strip()) for v in values if v.strip()):
            continue  # the |---|---| separator
        t = row
        if time_column is not None and time_column < len(values):
            raw = _clean(values[time_column])
            if not re.fullmatch(r"\d+", raw):
                raise UsageError(f"line {number}: time step {raw!r} is not a whole number: "
                                 f"{line.strip()}")
            t = int(raw)
        if t in seen_times:
            raise UsageError(f"line {number}: time step {t} already used on line {seen_times[t]}")
        seen_times[t] = number
        row += 1
        for col, rank in rank_of.items():
            cell = _clean(values[col]) if col < len(values) else ""
            if cell.lower() in _IDLE:
                continue
            match = _CELL.match(cell)
            if match is None:
                raise UsageError(f"line {number}: cannot read cell {cell!r} for GPU{rank + gpus[0]} "
                                 f"(expected F_1, B3, W_2, F1c1, - or empty): {line.strip()}")
            kind, mb, chunk = match.group(1).upper(), int(match.group(2)), int(match.group(3) or 0)
            cells.append((rank, t, kind, mb, chunk))
    if not cells:
        raise UsageError(f"line {header_no}: the table has no actions (only idle cells)")
    numbers = {mb for _, _, _, mb, _ in cells}
    one_based = min(numbers) == 1 and 0 not in numbers
    p = len(gpus)
    ranks: list[list[Action]] = [[] for _ in range(p)]
    steps: list[list[int]] = [[] for _ in range(p)]
    for rank, t, kind, mb, chunk in sorted(cells, key=lambda c: (c[0], c[1])):
        ranks[rank].append(Action(kind, mb - one_based, chunk))
        steps[rank].append(t)
    m = max(numbers) + (0 if one_based else 1)
    v = max(chunk for *_, chunk in cells) + 1
    split = any(kind == "W" for _, _, kind, _, _ in cells)
    return TimedSchedule(Schedule("table", p, m, v, ranks, split), steps, one_based)


def load_example(name: str) -> TimedSchedule:
    """A table shipped in ``ppedu/assets/<name>.md``: ``1f1b_p4_m4`` (correct) or
    ``seed002_1f1b`` (seed 002's table, which breaks dependencies)."""
    if name not in EXAMPLES:
        raise UsageError(f"example must be one of {', '.join(EXAMPLES)} (got {name!r})")
    return parse_markdown_table(example_text(name))


def example_text(name: str) -> str:
    return resources.files("ppedu").joinpath(f"assets/{name}.md").read_text(encoding="utf-8")
