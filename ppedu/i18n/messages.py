"""ppedu's messages in the student's language: one English message id, one translation each.

The language comes from ``PPEDU_LANG`` (``make course-zh`` sets ``PPEDU_LANG=zh`` for JupyterLab,
so every kernel and rank it starts inherits it) or from :func:`set_language`. ``LANG``/``LC_ALL``
are deliberately ignored: they change how the whole process formats numbers and sorts text.
Catalogs are standard gettext: ``locale/<lang>/LC_MESSAGES/ppedu.po`` (what a translator edits)
compiled to ``ppedu.mo`` (what :mod:`gettext` reads); ``python -m ppedu.i18n.messages`` recompiles.
"""

from __future__ import annotations

import functools
import gettext
import os
from pathlib import Path

from ppedu.errors import check_choice

LANGUAGES = ("en", "zh")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "ppedu"
_chosen: str | None = None


def language() -> str:
    """The language of ppedu's messages: :func:`set_language`'s, else ``PPEDU_LANG``, else English."""
    lang = (_chosen or os.environ.get("PPEDU_LANG", "")).strip().lower().replace("-", "_")
    base = lang.split("_")[0]  # zh_CN, zh-Hans -> zh
    return base if base in LANGUAGES else "en"


def set_language(lang: str) -> None:
    """Use ``lang`` (``en`` or ``zh``) for this process's messages from now on."""
    global _chosen
    _chosen = check_choice("language", lang, LANGUAGES)
    os.environ["PPEDU_LANG"] = _chosen  # ranks and kernels started from now on speak it too


@functools.lru_cache(maxsize=None)
def _catalog(lang: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[lang], fallback=True)


def _(message: str) -> str:
    """``message`` (an English message id) in the current language; English where no translation
    exists (gettext returns the id itself, so a message is never empty)."""
    if language() == "en":
        return message
    return _catalog(language()).gettext(message) or message


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it (gettext's ``gettext_noop``): for
    module-level constants, which are built at import, before a notebook may call
    :func:`set_language`. Translate them where they are shown, with ``_(CONSTANT)``."""
    return message


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
            catalog = read_po(f)
        mo = po.with_suffix(".mo")
        with mo.open("wb") as f:
            write_mo(f, catalog)
        written.append(mo)
    _catalog.cache_clear()
    return written


if __name__ == "__main__":
    for path in compile_catalogs():
        print(f"wrote {path}")
