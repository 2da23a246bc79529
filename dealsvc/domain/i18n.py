"""Sentences for people that the rules write in English and the edges say in the reader's language.

A rule that refuses something (a discount outside the band, an offer that is sold out) cannot
know who will read the refusal, so it writes a `Text`: the English sentence, which is what it
reads as anywhere (logs, tests, `str()`), plus its catalogue id and its values, so that the API and
the pages can say it again in Italian or French. `make i18n-extract` collects every `Text("...")`
into the message catalogues (dealsvc/translations).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from babel.numbers import format_decimal

# The language every Text and catalogue id is written in.
SOURCE_LOCALE = "en"


class Gettext(Protocol):
    """A catalogue for one language (babel.support.Translations, or gettext's)."""

    def gettext(self, message: str) -> str: ...


class Text(str):
    """An English sentence with `{name}` placeholders and their values; reads as the filled-in
    English. Values may be numbers (written the reader's way), strings (kept as they are: field
    and rule names, codes) or Texts (said in the reader's language too)."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, /, **params: Any) -> "Text":
        made = super().__new__(cls, _fill(template, params, None, SOURCE_LOCALE))
        made.template = template
        made.params = params
        return made

    def format(self, *args: Any, **values: Any) -> "Text":  # type: ignore[override]
        """Filled in by code that formats what it is given (marshmallow's validators format
        their `error`): still a Text, its own values first."""
        if args:
            raise TypeError("a Text takes named values only")
        return Text(self.template, **{**values, **self.params})

    def __reduce__(self):  # a Text survives pickling (multiprocessing, caches) as itself
        return (_rebuild, (self.template, self.params))

    def render(self, translations: Gettext, locale: str) -> str:
        return _fill(translations.gettext(self.template), self.params, translations, locale)


def _fill(template: str, params: dict[str, Any], translations: Gettext | None, locale: str) -> str:
    if not params:
        return template
    return template.format(**{name: _value(v, translations, locale) for name, v in params.items()})


def _rebuild(template: str, params: dict[str, Any]) -> Text:
    return Text(template, **params)


def _value(value: Any, translations: Gettext | None, locale: str) -> str:
    if isinstance(value, Text):
        return value.render(translations, locale) if translations is not None else str(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return str(value)
    # No grouping: the values are limits and counts a person may type back (5000, not 5.000).
    try:
        return format_decimal(value, locale=locale, group_separator=False)
    except ArithmeticError:  # a number too large for Babel's decimals (1e300 sent for a date)
        return str(value)


# How a person reads the status of an offer, a reservation or a merchant account (the API's
# values stay as they are; these are what a sentence about them says).
STATUS_WORDS = {
    "active": Text("active"),
    "expired": Text("expired"),
    "sold_out": Text("sold out"),
    "cancelled": Text("cancelled"),
    "held": Text("held"),
    "collected": Text("collected"),
    "released": Text("released"),
    "pending": Text("pending approval"),
    "suspended": Text("suspended"),
}


def status_text(status: str) -> Text | str:
    """A status as words for a sentence, in the reader's language once said."""
    return STATUS_WORDS.get(status, status)
