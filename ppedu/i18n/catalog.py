"""The lookup itself: ``_(msgid)`` in the current language, with no ppedu import (so that
:mod:`ppedu.errors` can translate its messages without an import cycle; choosing a language,
which checks its argument, lives in :mod:`ppedu.i18n.messages`)."""

from __future__ import annotations

import contextlib
import functools
import gettext
import os
from pathlib import Path

LANGUAGES = ("en", "zh")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "ppedu"
_chosen: str | None = None   # set by messages.set_language


def language() -> str:
    """The language of ppedu's messages: :func:`set_language`'s, else ``PPEDU_LANG``, else English."""
    return _normalized(_chosen or os.environ.get("PPEDU_LANG", ""))


@functools.lru_cache(maxsize=None)
def _normalized(lang: str) -> str:
    """zh_CN, zh-Hans, ' ZH ' -> zh; anything without a catalog -> en (cached: every message asks)."""
    base = lang.strip().lower().replace("-", "_").split("_")[0]
    return base if base in LANGUAGES else "en"


@functools.lru_cache(maxsize=None)
def _catalog(lang: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[lang], fallback=True)


def _(message: str) -> str:
    """``message`` (an English message id) in the current language; English where no translation
    exists (gettext returns the id itself, so a message is never empty)."""
    return in_language(message, language())


def in_language(message: str, lang: str) -> str:
    """``message`` in ``lang`` whatever the current language (for a file written in the language of
    its reader, e.g. the Chinese student copy); English where ``lang`` has no translation."""
    return message if lang not in LANGUAGES[1:] else _catalog(lang).gettext(message) or message


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it (gettext's ``gettext_noop``): for
    module-level constants, which are built at import, before a notebook may call
    :func:`set_language`. Translate them where they are shown, with ``_(CONSTANT)``."""
    return message


@contextlib.contextmanager
def speaking(lang: str):
    """Within the block, ppedu's messages are in ``lang`` (e.g. a book page's command output, run
    in the page's language); the language chosen before comes back however the block ends."""
    global _chosen
    before, _chosen = _chosen, lang
    try:
        yield
    finally:
        _chosen = before
