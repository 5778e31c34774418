"""Page language: the user's setting, else the browser's ``Accept-Language``, else English.

Translations are gettext catalogs (``locale/<lang>/LC_MESSAGES/messages.po``)
read with Babel when the process starts and compiled in memory, so there is
no build step and a translator edits one text file.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel import Locale as BabelLocale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("en", "ko")  # English is the source language
DEFAULT = "en"
_LOCALE_DIR = Path(__file__).with_name("locale")


def negotiate(user_locale: str | None, accept_language: str | None) -> str:
    """The first supported language of the user's setting, then of the header by weight."""
    if user_locale:
        base = user_locale.replace("_", "-").split("-")[0].lower()
        if base in LANGUAGES:
            return base
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        base = tag.strip().split("-")[0].lower()
        if weight > 0 and (base in LANGUAGES or base == "*"):
            ranked.append((-weight, index, DEFAULT if base == "*" else base))
    return sorted(ranked)[0][2] if ranked else DEFAULT


def language_names() -> list[tuple[str, str]]:
    """Each supported language with its name in itself (``ko`` → 한국어), for pickers."""
    return [(code, BabelLocale.parse(code).get_display_name(code) or code) for code in LANGUAGES]


@cache
def translations(language: str) -> NullTranslations:
    """The gettext translations for ``language`` (English: the messages as written)."""
    po = _LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT or not po.exists():
        return NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)
