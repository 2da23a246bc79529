"""Strict JSON fields: no strings for numbers, no numbers for booleans, times with an offset only,
text a person can read safely, tokens without spaces, ISO 4217 currencies."""
from __future__ import annotations

import math
import unicodedata
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from marshmallow import ValidationError, fields, validate


class StrictInteger(fields.Integer):
    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictNumber(fields.Float):
    """A JSON number (integer or decimal), finite."""

    def __init__(self, **kwargs):
        super().__init__(allow_nan=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        if isinstance(value, int) and abs(value) > 2**53:
            raise self.make_error("too_large")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.make_error("special")
        return super()._deserialize(value, attr, data, **kwargs)


class QueryNumber(fields.Float):
    """A finite number given in a query string."""

    def __init__(self, **kwargs):
        super().__init__(allow_nan=False, **kwargs)


class StrictBoolean(fields.Boolean):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


UNSTORABLE = "must not contain NUL characters or unpaired surrogates."


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


# Characters that change how the text around them is shown without showing themselves: the bidi
# embeddings, overrides and isolates ("Pane \u202egnp.exe" shows as "Pane exe.png"), the marks,
# and the other format controls (zero-width space, word joiner, BOM, tags, interlinear
# annotations...). Zero-width (non-)joiners stay allowed inside text: emoji sequences and several
# scripts need them; alone they are invisible and refused as such.
_JOINERS = {"\u200c", "\u200d"}
# Shown as blank though not white space nor a format control.
_BLANK_LOOKING = {"\u115f", "\u1160", "\u2800", "\u3164", "\uffa0"}

CONTROL = "must not contain control characters."
FORMAT = "must not contain bidirectional or invisible formatting characters (such as U+202E)."
INVISIBLE = "must contain visible characters."


def text_problem(text: str, *, multiline: bool = False) -> str | None:
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


class Text(fields.String):
    """Text a person reads, with surrounding white space removed; blank counts as missing
    content; refused when text_problem says so. `multiline`: line breaks allowed (descriptions)."""

    def __init__(self, *, multiline: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.multiline = multiline

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("must not contain NUL characters.")
        # The documented maxLength bounds what is sent, not what is left after stripping.
        for v in self.validators:
            if isinstance(v, validate.Length) and v.max is not None and len(text) > v.max:
                raise ValidationError(f"Longer than maximum length {v.max}.")
        text = text.strip()
        problem = text_problem(text, multiline=self.multiline)
        if problem:
            raise ValidationError(problem)
        return text


class Token(fields.String):
    """An opaque token (a device's FCM registration token): no white space, no control or format
    characters anywhere."""

    def _deserialize(self, value, attr, data, **kwargs):
        token = super()._deserialize(value, attr, data, **kwargs)
        if any(char.isspace() or unicodedata.category(char) in ("Cc", "Cf") for char in token):
            raise ValidationError("must not contain white space or control characters.")
        return token


_CURRENCIES: frozenset[str] | None = None


def currencies() -> frozenset[str]:
    """ISO 4217 codes as Babel (CLDR) lists them, without XXX (no currency) and XTS (testing)."""
    global _CURRENCIES
    if _CURRENCIES is None:
        from babel.numbers import list_currencies

        _CURRENCIES = frozenset(list_currencies()) - {"XXX", "XTS"}
    return _CURRENCIES


class Currency(fields.String):
    """An ISO 4217 currency code, such as EUR (listed in the OpenAPI document as an enum)."""

    def __init__(self, **kwargs):
        super().__init__(
            validate=validate.OneOf(sorted(currencies()), error="must be an ISO 4217 currency code such as EUR."), **kwargs
        )


class UTCDateTime(fields.AwareDateTime):
    """In: ISO 8601 with an offset (a naive time is refused). Out: UTC with 'Z'."""

    default_error_messages = {
        "invalid": "must be an ISO 8601 time with an offset, such as 2026-11-22T18:30:00+01:00.",
        "invalid_awareness": "must have an offset, such as 2026-11-22T18:30:00+01:00.",
    }

    def __init__(self, **kwargs):
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or len(value) > 64:
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        parsed: datetime = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.astimezone(timezone.utc)
        except (OverflowError, ValueError):
            raise ValidationError("is out of range.") from None

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


_ZONES: frozenset[str] | None = None


class TimeZoneName(fields.String):
    """An IANA time zone name, such as Europe/Rome."""

    def _deserialize(self, value, attr, data, **kwargs):
        global _ZONES
        name = super()._deserialize(value, attr, data, **kwargs)
        if _ZONES is None:
            _ZONES = frozenset(available_timezones())
        if name not in _ZONES:
            raise ValidationError("is not an IANA time zone name (such as Europe/Rome).")
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError("is not an IANA time zone name (such as Europe/Rome).") from None
        return name
