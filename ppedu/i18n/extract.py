"""Collect ppedu's message ids and merge them into the catalogs.

A message id is the literal first argument of ``_("...")`` or ``N_("...")`` anywhere in ``ppedu/``
(read with :mod:`ast`, so implicit string concatenation and line breaks are handled exactly as
Python does). ``python -m ppedu.i18n.extract`` adds new ids to every ``ppedu.po`` with an empty
translation (the tests then name each one until it is translated), keeps existing translations,
drops ids the code no longer has, and recompiles the ``.mo`` files.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

from ppedu.i18n.messages import DOMAIN, LOCALE_DIR, compile_catalogs

PACKAGE = Path(__file__).resolve().parent.parent
MARKERS = ("_", "N_")


def message_ids(root: Path = PACKAGE) -> dict[str, list[str]]:
    """Every message id in the ``.py`` files under ``root`` -> its places (``path:line``)."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MARKERS
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                where = f"{path.relative_to(root.parent).as_posix()}:{node.lineno}"
                found.setdefault(node.args[0].value, []).append(where)
    return found


def placeholders(text: str) -> list[str]:
    """The replacement fields of a ``str.format`` message (``{p}``, ``{bubble:.3f}``, ``{x!r}``)
    and the ``%``-fields of an argparse one, sorted; a translation must keep exactly these."""
    fields = []
    try:
        for _literal, name, spec, conversion in string.Formatter().parse(text):
            if name is not None:
                fields.append("{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    except ValueError:
        fields.append("<unbalanced braces>")
    fields += re.findall(r"%\([a-z_]+\)[sdr]|%[sdr]", text)
    return sorted(fields)


def merge(po: Path, ids: dict[str, list[str]]) -> tuple[int, int]:
    """Bring ``po`` in line with ``ids``: (added, removed)."""
    from babel.messages.pofile import read_po, write_po

    with po.open("rb") as f:
        catalog = read_po(f)
    old = {m.id for m in catalog if m.id}
    for msgid in sorted(old - set(ids)):
        del catalog[msgid]
    for msgid, places in ids.items():
        locations = sorted({(p.rsplit(":", 1)[0], None) for p in places})  # no line numbers: less churn
        if msgid in catalog:
            catalog[msgid].locations = locations
        else:
            catalog.add(msgid, "", locations=locations)
    with po.open("wb") as f:
        write_po(f, catalog, width=100, sort_output=False, include_previous=False)
    return len(set(ids) - old), len(old - set(ids))


def main() -> None:
    ids = message_ids()
    for po in sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        added, removed = merge(po, ids)
        print(f"{po}: {len(ids)} messages, {added} new, {removed} removed")
    for mo in compile_catalogs():
        print(f"wrote {mo}")


if __name__ == "__main__":
    main()
