"""The message catalogues: Babel's compiled translations from dealsvc/translations, loaded once
per locale and kept, for code that runs without Flask (the workers) and for what the API and the
pages say of a refused request (`localize`)."""
from __future__ import annotations

import functools
import logging
import re
from decimal import Decimal
from pathlib import Path

from babel.support import NullTranslations, Translations

from ..domain.i18n import SOURCE_LOCALE, Text
from ..domain.locales import LOCALES
from .library_texts import LIBRARY_TEXTS

CATALOGUES = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "messages"

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=len(LOCALES) + 1)
def translations(locale: str) -> NullTranslations:
    """The catalogue of `locale` (one of LOCALES), read from its compiled .mo file on first use."""
    found = Translations.load(str(CATALOGUES), [locale], domain=DOMAIN)
    if not isinstance(found, Translations):
        # `make` compiles the catalogues before anything runs; without them texts stay English.
        log.error("no compiled catalogue for %r in %s (run `make i18n-compile`)", locale, CATALOGUES)
    return found


def _pattern(template: str) -> re.Pattern[str]:
    """A regular expression reading a filled-in template back: "{max}" captures the value."""
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)),
        re.DOTALL,
    )


_FILLED = [(_pattern(t.template), t.template) for t in LIBRARY_TEXTS if "{" in t.template]
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _value(text: str) -> str | Decimal | int:
    if not _NUMBER.fullmatch(text):
        return text
    return int(text) if text.lstrip("-").isdigit() else Decimal(text)


def localize(message: str, locale: str) -> str:
    """A message for a person in `locale`: a Text said in that language, or a library's English
    sentence recognised by its template; anything else as it is."""
    catalogue = translations(locale)
    if isinstance(message, Text):
        return message.render(catalogue, locale)
    said = catalogue.gettext(message)
    if said != message or locale == SOURCE_LOCALE:
        return said
    for pattern, template in _FILLED:
        if found := pattern.fullmatch(message):
            values = {name: _value(v) for name, v in found.groupdict().items()}
            return Text(template, **values).render(catalogue, locale)
    return message
