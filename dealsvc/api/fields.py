"""Strict JSON fields: no strings for numbers, no numbers for booleans, times with an offset only,
text a person can read safely, tokens without spaces, ISO 4217 currencies."""
from __future__ import annotations

import math
import unicodedata
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from marshmallow import ValidationError, fields, validate

from ..domain import i18n
from ..domain.text import text_problem


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


# Text the database cannot hold (domain/text.storable).
UNSTORABLE = i18n.Text("must not contain NUL characters or unpaired surrogates.")

class Text(fields.String):
    """Text a person reads, with surrounding white space removed; blank counts as missing
    content; refused when text_problem says so. `multiline`: line breaks allowed (descriptions)."""

    def __init__(self, *, multiline: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.multiline = multiline

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError(i18n.Text("must not contain NUL characters."))
        # The documented maxLength bounds what is sent, not what is left after stripping.
        for v in self.validators:
            if isinstance(v, validate.Length) and v.max is not None and len(text) > v.max:
                raise ValidationError(i18n.Text("Longer than maximum length {max}.", max=v.max))
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
            raise ValidationError(i18n.Text("must not contain white space or control characters."))
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
            validate=validate.OneOf(sorted(currencies()), error=i18n.Text("must be an ISO 4217 currency code such as EUR.")), **kwargs
        )


class UTCDateTime(fields.AwareDateTime):
    """In: ISO 8601 with an offset (a naive time is refused). Out: UTC with 'Z'."""

    default_error_messages = {
        "invalid": i18n.Text("must be an ISO 8601 time with an offset, such as 2026-11-22T18:30:00+01:00."),
        "invalid_awareness": i18n.Text("must have an offset, such as 2026-11-22T18:30:00+01:00."),
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
            raise ValidationError(i18n.Text("is out of range.")) from None

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


_ZONES: frozenset[str] | None = None
NOT_A_ZONE = i18n.Text("is not an IANA time zone name (such as Europe/Rome).")


class TimeZoneName(fields.String):
    """An IANA time zone name, such as Europe/Rome."""

    def _deserialize(self, value, attr, data, **kwargs):
        global _ZONES
        name = super()._deserialize(value, attr, data, **kwargs)
        if _ZONES is None:
            _ZONES = frozenset(available_timezones())
        if name not in _ZONES:
            raise ValidationError(NOT_A_ZONE)
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(NOT_A_ZONE) from None
        return name
