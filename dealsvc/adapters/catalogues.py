"""The message catalogues for code that runs without Flask (the workers): Babel's compiled
translations from dealsvc/translations, loaded once per locale and kept."""
from __future__ import annotations

import functools
import logging
from pathlib import Path

from babel.support import NullTranslations, Translations

from ..domain.locales import LOCALES

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
