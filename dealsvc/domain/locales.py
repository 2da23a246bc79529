"""The languages dealsvc speaks, and how a request's wishes pick one of them."""
from __future__ import annotations

# Italian and French cities first; English for everyone else.
LOCALES = ("it", "fr", "en")
DEFAULT_LOCALE = "en"


def best_match(accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The best of LOCALES for an Accept-Language header ("fr-CH, fr;q=0.9, en;q=0.8"), else
    `default`. Quality values are honoured; a malformed header counts as saying nothing."""
    wanted: list[tuple[float, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().replace("_", "-")
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            wanted.append((-quality, position, tag))
    preferred = [tag for *_, tag in sorted(wanted)]
    for tag in preferred:
        # The language subtag alone: "fr-IT" (French as spoken in Italy) is French, whether or
        # not CLDR has data for that pair.
        language = tag.split("-")[0].lower()
        if language in LOCALES:
            return language
    return default
