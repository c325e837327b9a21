"""ppedu's messages in the student's language: one English message id, one translation each.

The language comes from ``PPEDU_LANG`` (``make course-zh`` sets ``PPEDU_LANG=zh`` for JupyterLab,
so every kernel and rank it starts inherits it) or from :func:`set_language`. ``LANG``/``LC_ALL``
are deliberately ignored: they change how the whole process formats numbers and sorts text.
Catalogs are standard gettext: ``locale/<lang>/LC_MESSAGES/ppedu.po`` (what a translator edits)
compiled to ``ppedu.mo`` (what :mod:`gettext` reads); ``python -m ppedu.i18n.messages`` recompiles.
"""

from __future__ import annotations

import os

from ppedu.errors import check_choice
from ppedu.i18n import catalog
from ppedu.i18n.catalog import DOMAIN, LANGUAGES, LOCALE_DIR, N_, _, language

__all__ = ["DOMAIN", "LANGUAGES", "LOCALE_DIR", "N_", "_", "language", "set_language", "compile_catalogs",
           "translate_argparse"]


def set_language(lang: str) -> None:
    """Use ``lang`` (``en`` or ``zh``) for this process's messages from now on."""
    catalog._chosen = check_choice("language", lang, LANGUAGES)
    os.environ["PPEDU_LANG"] = catalog._chosen  # ranks and kernels started from now on speak it too


# argparse's own words around ppedu's help texts (it asks gettext's default domain, which has no
# Chinese catalog): the CLI routes them through ppedu's catalog, see translate_argparse
ARGPARSE_MESSAGES = (
    N_("usage: "), N_("options"), N_("positional arguments"), N_("show this help message and exit"),
    N_("argument %(argument_name)s: %(message)s"), N_("unrecognized arguments: %s"),
    N_("the following arguments are required: %s"), N_("expected one argument"),
    N_("expected at least one argument"), N_("expected at most one argument"),
    N_("invalid %(type)s value: %(value)r"), N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("ambiguous option: %(option)s could match %(matches)s"), N_("not allowed with argument %s"),
    N_("one of the arguments %s is required"), N_("ignored explicit argument %r"),
)


def translate_argparse() -> None:
    """Let argparse's usage/options/error words follow the language too (for the ``ppedu`` CLI
    process: argparse looks its messages up through its module-level ``_``)."""
    import argparse
    argparse._ = _


def compile_catalogs() -> list[Path]:
    """Compile every ``locale/*/LC_MESSAGES/ppedu.po`` to its ``.mo`` (uses Babel, a Sphinx
    dependency, so no system ``msgfmt`` is needed). Returns the files written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        with po.open("rb") as f:
            messages = read_po(f)
        mo = po.with_suffix(".mo")
        with mo.open("wb") as f:
            write_mo(f, messages)
        written.append(mo)
    catalog._catalog.cache_clear()
    return written


if __name__ == "__main__":
    for path in compile_catalogs():
        print(f"wrote {path}")
