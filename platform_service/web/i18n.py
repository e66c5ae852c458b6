"""The console's languages: Babel gettext catalogues, picked per request.

The `.po` files under `locales/` are the source of truth; they are compiled in
memory when this module loads, so the running service can never use a stale
compiled catalogue (no `.mo` file is kept). English is the msgids themselves.

After changing a page's wording, from the repository root:
    pybabel extract -F platform_service/web/babel.cfg -k N_ --no-location --sort-output \
        -o platform_service/web/locales/messages.pot platform_service/web
    pybabel update -i platform_service/web/locales/messages.pot \
        -d platform_service/web/locales
then translate the new msgids in `locales/fr/LC_MESSAGES/messages.po`; the
console tests fail while a msgid is missing or a msgstr is empty.
"""

from __future__ import annotations

import gettext as gettext_module
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "messages"
LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
# The switcher's choice; Accept-Language decides until the person picks one.
LANGUAGE_COOKIE = "ps_lang"
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}

_current: ContextVar[str] = ContextVar("console_language", default=DEFAULT_LANGUAGE)


def po_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> gettext_module.NullTranslations:
    """The language's catalogue, compiled from its `.po` (English: the msgids themselves)."""
    if language == DEFAULT_LANGUAGE:
        return gettext_module.NullTranslations()
    with po_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def negotiate(chosen: str | None, accept_language: str | None) -> str:
    """The switcher's choice if valid, else the best of Accept-Language, else English."""
    if chosen in LANGUAGES:
        return str(chosen)
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return sorted(ranked)[0][2] if ranked else DEFAULT_LANGUAGE


def current_language() -> str:
    return _current.get()


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Translate with `language` inside the block (a request's handling, a page's rendering)."""
    token = _current.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


# `_` translates now; `N_` only marks a string for extraction (translated when shown).
_ = gettext


def N_(message: str) -> str:
    return message
