"""What text a person will read may hold, and what text the database can hold: one rule each for
the API's schemas and the pages' forms."""
from __future__ import annotations

import unicodedata

from .i18n import Text

# Characters that change how the text around them is shown without showing themselves: the bidi
# embeddings, overrides and isolates ("Pane \u202egnp.exe" shows as "Pane exe.png"), the marks,
# and the other format controls (zero-width space, word joiner, BOM, tags, interlinear
# annotations...). Zero-width (non-)joiners stay allowed inside text: emoji sequences and several
# scripts need them; alone they are invisible and refused as such.
_JOINERS = {"\u200c", "\u200d"}
# Shown as blank though not white space nor a format control.
_BLANK_LOOKING = {"\u115f", "\u1160", "\u2800", "\u3164", "\uffa0"}

CONTROL = Text("must not contain control characters.")
FORMAT = Text("must not contain bidirectional or invisible formatting characters (such as U+202E).")
INVISIBLE = Text("must contain visible characters.")


def text_problem(text: str, *, multiline: bool = False) -> Text | None:
    """Why a text people will read (a name, a title, an address, a description) is refused, or
    None. The one rule for the API's schemas and the pages' forms: no C0/C1 control characters
    (a description keeps its line breaks and tabs), no bidi or other format controls, and
    something visible."""
    allowed_controls = "\n\r\t" if multiline else ""
    visible = False
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc":
            if char not in allowed_controls:
                return CONTROL
        elif category == "Cf":
            if char not in _JOINERS:
                return FORMAT
        elif not (char.isspace() or category in ("Mn", "Me", "Zs", "Zl", "Zp") or char in _BLANK_LOOKING):
            visible = True
    return None if visible or not text else INVISIBLE


def storable(value) -> bool:
    """False for text no database column can hold: a NUL (PostgreSQL refuses it) or a lone
    surrogate (not encodable as UTF-8); lists are looked through, other values pass."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, (list, tuple)):
        return all(storable(v) for v in value)
    return True


# The longest key of an address (the geocoder's cache keeps that much).
ADDRESS_KEY_LENGTH = 500


def address_key(address: str) -> str:
    """An address as the geocoder's cache keys it: Unicode-normalised (NFKC), case-folded, its
    white space collapsed, cut to ADDRESS_KEY_LENGTH. Two addresses with one key are the same
    address, for the cache and for what erasing a merchant forgets."""
    return " ".join(unicodedata.normalize("NFKC", address).casefold().split())[:ADDRESS_KEY_LENGTH]
