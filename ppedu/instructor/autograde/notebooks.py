"""The two notebooks ``ppedu grade`` runs per submission (cf. ``ppedu.instructor.autograde.grade``).

``answer_notebook``: the submission's answer cells, each followed by an ``export`` of the names the
instructor's answer cell defines, and only the instructor's cells those answers need (a backward
slice over the cells' symbol tables: measurements and charts are skipped). ``check_notebook``: the
instructor's notebook, hidden checks included, with each answer cell replaced by a ``load`` of those
values and a ``verify`` after every later code cell.
"""

from __future__ import annotations

from ppedu.instructor.student_copy import CHECK_TAG, HIDDEN_TAG


def _tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def _code(source: str, **metadata):
    from nbformat.v4 import new_code_cell
    cell = new_code_cell(source)
    cell.metadata.update(metadata)
    return cell


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell defines, globals it reads, in function bodies too), from its symbol table."""
    import symtable
    try:
        top = symtable.symtable(source, "<cell>", "exec")
    except SyntaxError:
        return set(), set()
    defines = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    reads, tables = set(), [top]
    while tables:
        table = tables.pop()
        reads |= {s.get_name() for s in table.get_symbols()
                  if s.is_referenced() and (table is top or s.is_global())}
        tables += table.get_children()
    return defines, reads


def _slice(cells: list[tuple[str, bool]]) -> list[bool]:
    """Which cells the answers need: every answer, and (backwards) every cell defining a name that a
    kept cell reads. The answer run skips the rest (measurements, charts): it only defines answers."""
    keep, needed = [False] * len(cells), set()
    for k in range(len(cells) - 1, -1, -1):
        defines, reads = _names(cells[k][0])
        if cells[k][1] or defines & needed:
            keep[k], needed = True, needed | reads
    return keep


def answer_notebook(instructor, plan: Layout, answers: dict[int, list[str]], folder: str):
    """Run 1: the submission's answer cells, and the instructor's cells they need, checks left out."""
    import copy
    nb = copy.deepcopy(instructor)
    where = {i: (number, names) for i, number, names in plan.answers}
    chosen, seen = [], {}
    for i, cell in enumerate(instructor.cells):
        if cell.cell_type != "code" or {CHECK_TAG, HIDDEN_TAG} & set(_tags(cell)):
            continue
        if i not in where:
            chosen.append((i, cell.source, False))
            continue
        number = where[i][0]
        k = seen[number] = seen.get(number, -1) + 1
        mine = answers.get(number, answers.get(-1, []))
        chosen.append((i, mine[k] if k < len(mine) else "", True))
    cells = []
    for (i, source, is_answer), keep in zip(chosen, _slice([(s, a) for _, s, a in chosen])):
        if keep and not is_answer:
            cells.append(copy.deepcopy(instructor.cells[i]))
        elif keep:
            cells.append(_code(source, ppedu_answer=i))
            cells.append(_code("import ppedu.instructor.autograde.answers as _ppedu_answers\n"
                               f"_ppedu_answers.export({f'cell{i}'!r}, {where[i][1]!r}, globals(), {folder!r})"))
    nb.cells = cells
    return nb


def check_notebook(instructor, plan: Layout, folder: str):
    """Run 2: the instructor's notebook, hidden checks in, each answer cell replaced by a loader
    (which takes the checking code's fingerprint before any check runs); after every later code
    cell, ``verify``. Cell metadata ``ppedu_from`` = instructor index."""
    import copy
    nb = copy.deepcopy(instructor)
    where = {i: (number, names) for i, number, names in plan.answers}
    cells, loaded = [_code("import ppedu.instructor.autograde.answers as _ppedu_answers")], False
    for i, cell in enumerate(instructor.cells):
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        if i in where:
            number, names = where[i]
            cells.append(_code(f"globals().update(_ppedu_answers.load({f'cell{i}'!r}, "
                               f"{f'Exercise {number}'!r}, {names!r}, {folder!r}))\n"
                               "_ppedu_answers.fingerprint()", ppedu_from=i))
            loaded = True
            continue
        cells.append(copy.deepcopy(cell))
        cells[-1].metadata["ppedu_from"] = i
        if loaded:
            cells.append(_code("_ppedu_answers.verify()", ppedu_verify=i))
    nb.cells = cells
    return nb
