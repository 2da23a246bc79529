"""Sentences for people that the rules write in English and the edges say in the reader's language.

A rule that refuses something (a discount outside the band, an offer that is sold out) cannot
know who will read the refusal, so it writes a `Text`: the English sentence, which is what it
reads as anywhere (logs, tests, `str()`), plus its catalogue id and its values, so that the API and
the pages can say it again in Italian or French. `make i18n-extract` collects every `Text("...")`
into the message catalogues (dealsvc/translations).
"""
from __future__ import annotations

import string
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo
from typing import Any, Protocol

from babel.dates import format_time
from babel.numbers import format_decimal, format_percent

# The language every Text and catalogue id is written in.
SOURCE_LOCALE = "en"


class Gettext(Protocol):
    """A catalogue for one language (babel.support.Translations, or gettext's)."""

    def gettext(self, message: str) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int) -> str: ...

    def pgettext(self, context: str, message: str) -> str: ...


class Percent:
    """A percentage as a value of a Text: written by Babel the reader's way ("50%", "50 %",
    "12,5 %")."""

    def __init__(self, value: float | Decimal) -> None:
        self.value = value

    def said(self, locale: str) -> str:
        share = Decimal(str(self.value)) / 100
        return format_percent(share, locale=locale, decimal_quantization=False)

    def __str__(self) -> str:
        return self.said(SOURCE_LOCALE)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Percent) and other.value == self.value

    def __repr__(self) -> str:
        return f"Percent({self.value!r})"


class LocalTime:
    """A time of day as a value of a Text: on the clock of `zone`, written by Babel the reader's
    way ("19:30", "7:30 PM")."""

    def __init__(self, at: datetime, zone: str) -> None:
        self.at, self.zone = at, zone

    def said(self, locale: str) -> str:
        return format_time(self.at, format="short", tzinfo=ZoneInfo(self.zone), locale=locale)

    def __str__(self) -> str:
        return self.said(SOURCE_LOCALE)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalTime) and (other.at, other.zone) == (self.at, self.zone)

    def __repr__(self) -> str:
        return f"LocalTime({self.at!r}, {self.zone!r})"


class Text(str):
    """An English sentence with `{name}` placeholders and their values; reads as the filled-in
    English. Values may be numbers (written the reader's way), Percents, strings (kept as they
    are: field and rule names, codes) or Texts (said in the reader's language too)."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, /, **params: Any) -> "Text":
        made = super().__new__(cls, _fill(template, params, None, SOURCE_LOCALE))
        made.template = template
        made.params = params
        return made

    def format(self, *args: Any, **values: Any) -> "Text":  # type: ignore[override]
        """Filled in by code that formats what it is given (marshmallow's validators format
        their `error` with the input and their bounds): still a Text, its own values first, and
        only the values its sentence names (the input itself may be anything)."""
        if args:
            raise TypeError("a Text takes named values only")
        wanted = _names(self.template)
        return self._again(**{**{k: v for k, v in values.items() if k in wanted}, **self.params})

    def _again(self, **params: Any) -> "Text":
        return Text(self.template, **params)

    def __reduce__(self):  # a Text survives pickling (multiprocessing, caches) as itself
        return (_rebuild, (type(self), self._args(), self.params))

    def _args(self) -> tuple:
        return (self.template,)

    def render(self, translations: Gettext, locale: str) -> str:
        return _fill(translations.gettext(self.template), self.params, translations, locale)


class Plural(Text):
    """A Text whose words follow a count (`n`): "1 shop", "2 shops"; each language's plural
    rule picks the form (French says "0 boutique", English "0 shops")."""

    plural: str

    def __new__(cls, singular: str, plural: str, /, **params: Any) -> "Plural":
        made = str.__new__(cls, _fill(singular if params["n"] == 1 else plural, params, None, SOURCE_LOCALE))
        made.template, made.plural, made.params = singular, plural, params
        return made

    def _again(self, **params: Any) -> "Plural":
        return Plural(self.template, self.plural, **params)

    def _args(self) -> tuple:
        return (self.template, self.plural)

    def render(self, translations: Gettext, locale: str) -> str:
        said = translations.ngettext(self.template, self.plural, int(self.params["n"]))
        return _fill(said, self.params, translations, locale)


class Word(Text):
    """A word whose translation depends on what it is said of: "active" is "attiva" of an offer
    and "attivo" of an account in Italian, so its catalogue entry carries a context."""

    context: str

    def __new__(cls, context: str, word: str, /) -> "Word":
        made = str.__new__(cls, word)
        made.template, made.params, made.context = word, {}, context
        return made

    def _again(self, **params: Any) -> "Word":
        return self

    def _args(self) -> tuple:
        return (self.context, self.template)

    def render(self, translations: Gettext, locale: str) -> str:
        return translations.pgettext(self.context, self.template)


def _names(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _fill(template: str, params: dict[str, Any], translations: Gettext | None, locale: str) -> str:
    wanted = _names(template)
    if not params or not wanted:  # a sentence, or a template not filled in yet
        return template
    return template.format(**{name: _value(v, translations, locale) for name, v in params.items() if name in wanted})


def _rebuild(kind: type, args: tuple, params: dict[str, Any]) -> Text:
    return kind(*args, **params)


def _value(value: Any, translations: Gettext | None, locale: str) -> str:
    if isinstance(value, Text):
        return value.render(translations, locale) if translations is not None else str(value)
    if isinstance(value, (Percent, LocalTime)):
        return value.said(locale)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return str(value)
    try:
        # No grouping: the values are limits and counts a person may type back (5000, not 5.000).
        return format_decimal(value, locale=locale, group_separator=False)
    except (ArithmeticError, ValueError):  # too large or too precise for Babel: as it is
        return str(value)
