"""Marshmallow schemas for the pages' forms: text fields in, typed values out, errors keyed by field."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import NumberFormatError, get_group_symbol, parse_decimal
from flask_babel import LazyString, get_locale, lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from ..adapters.catalogues import localize
from ..domain.text import storable, text_problem
from ..domain import hours
from ..domain.categories import CATEGORIES
from ..domain.i18n import Text
from ..domain.rules import RULES, Rule

MAX_PRICE_CENTS = 100_000_000
# The posting form's rows of lower prices: fewer than the API's five, enough from a phone.
STEP_ROWS = (1, 2, 3)


def parse(schema: Schema, form) -> tuple[dict, dict[str, list[str]]]:
    """(values, {}) or ({}, errors by field); never raises on what a browser sends."""
    try:
        return schema.load({k: v for k, v in form.items()}), {}
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"_form": err.messages}
        return {}, {k: v if isinstance(v, list) else [str(v)] for k, v in messages.items()}


class Form(Schema):
    class Meta:
        # The CSRF token and the submit button travel with every form.
        unknown = EXCLUDE

    @pre_load
    def _blank_is_missing(self, data, **kwargs):
        data = {k: v.strip() for k, v in data.items() if isinstance(v, str) and v.strip() != ""}
        # PostgreSQL cannot hold a NUL in text, nor UTF-8 a lone surrogate: refuse them by name.
        bad = {k: [_l("Contains characters that cannot be stored.")] for k, v in data.items() if not storable(v)}
        if bad:
            raise ValidationError(bad)
        return data


class PersonText(fields.String):
    """Text people will read (a name, a title, an address, a description): the API's rule
    (domain/text.text_problem). `multiline`: line breaks allowed."""

    def __init__(self, *, multiline: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.multiline = multiline

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(text, multiline=self.multiline)
        if problem:
            shown = localize(problem, str(get_locale()))  # the rule's reason, in the page's language
            raise ValidationError(shown[:1].upper() + shown[1:])
        return text


def at_most(length: int) -> validate.Length:
    """Text of at most `length` characters (blank counts as missing: the schema drops it first)."""
    return validate.Length(max=length, error=_l("Must be at most {max} characters."))


# What a person may type for a number: digits, a sign, the marks of decimals and thousands.
# (Not "1e9", "NaN" nor "inf", which Python and Babel would read.)
_NUMBER = re.compile(r"[+-]?[0-9.,\s\u00a0\u202f]*[0-9][0-9.,\s\u00a0\u202f]*")


def local_decimal(text: str, *, grouping: bool = True) -> Decimal | None:
    """A number as a person types it on this page: the page's language first ("12,5" and
    "1.234,5" in Italian and French, "1,234.5" in English), else either mark as the decimal point,
    as people type on any keyboard ("45.4642" in Milan, "4,50" in English); None when it is none.
    Without `grouping` (coordinates, which nobody groups) the one mark there is is the decimal
    point in any language: "9.190" in Milan is 9.19, not 9190."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    if not grouping:
        if text.count(",") + text.count(".") > 1:
            return None
        try:
            return Decimal(text.replace(",", "."))
        except InvalidOperation:
            return None
    locale = get_locale()
    group = get_group_symbol(locale)
    if group.isspace():  # French groups with a narrow no-break space; people type a plain one
        text = re.sub(r"[ \u00a0\u202f]", group, text)
    try:
        return parse_decimal(text, locale=locale, strict=True)
    except NumberFormatError:
        pass
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None


class LocalNumber(fields.Field):
    """A number typed the local way (local_decimal) -> float, or int when `whole`."""

    default_error_messages = {"invalid": _l("Enter a number.")}

    def __init__(self, *, whole: bool = False, grouping: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.whole = whole
        self.grouping = grouping

    def _deserialize(self, value, attr, data, **kwargs):
        number = local_decimal(str(value), grouping=self.grouping)
        if number is None or not number.is_finite() or (self.whole and number != number.to_integral_value()):
            raise self.make_error("invalid")
        return int(number) if self.whole else float(number)


class Money(fields.Field):
    """An amount in the major unit as a person types it ("4", "4.5", "4,50") -> integer cents."""

    def _deserialize(self, value, attr, data, **kwargs):
        amount = local_decimal(str(value).replace("€", ""))
        if amount is None:
            raise ValidationError(_l("Enter an amount such as 4.50."))
        if not amount.is_finite() or amount.as_tuple().exponent < -2:
            raise ValidationError(_l("Enter an amount with at most two decimals, such as 4.50."))
        if amount > Decimal(MAX_PRICE_CENTS) / 100:  # before multiplying: 1e999999999 digits would overflow
            raise ValidationError(_l("Is too large."))
        cents = int(amount * 100)
        if cents <= 0:
            raise ValidationError(_l("Must be more than zero."))
        if cents > MAX_PRICE_CENTS:
            raise ValidationError(_l("Is too large."))
        return cents


class ClockTime(fields.Field):
    """A time of day as a time input or a person sends it ("19:30", "7.30") -> datetime.time."""

    def _deserialize(self, value, attr, data, **kwargs):
        match = re.fullmatch(r"(\d{1,2})[:.](\d{2})(?::\d{2}(?:\.\d{1,6})?)?", str(value).strip())
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ValidationError(_l("Enter a time such as 19:30."))
        return time(int(match[1]), int(match[2]))


def shop_zone(name: str | None) -> ZoneInfo:
    """The shop's clock (its `timezone`, found from its place); UTC when it names none we know."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        return ZoneInfo("UTC")


def wall_clock(text: str | None, zone: ZoneInfo) -> datetime | None:
    """A datetime-local input's value ("2026-11-22T19:30"), read on the shop's clock `zone`."""
    try:
        local = datetime.fromisoformat(text or "")
    except ValueError:
        return None
    return local.replace(tzinfo=zone) if local.tzinfo is None else local


def next_time_of_day(clock: time, zone: ZoneInfo, now: datetime) -> datetime:
    """The next moment after `now` that the clock in `zone` reads `clock`: today's, or
    tomorrow's once today's has passed (a step at 00:30 of an offer posted at 23:00)."""
    local_now = now.astimezone(zone)
    at = datetime.combine(local_now.date(), clock, tzinfo=zone)
    if at <= local_now:
        at = datetime.combine(local_now.date() + timedelta(days=1), clock, tzinfo=zone)
    return at


def _number(message: str, *, whole: bool = False, grouping: bool = True, **kw):
    return LocalNumber(whole=whole, grouping=grouping, error_messages={"invalid": message, "required": _l("Required.")}, **kw)


class SignInForm(Form):
    secret = fields.String(required=True, error_messages={"required": _l("Required.")}, validate=at_most(500))


def _opening_hours(value: str) -> None:
    wrong = hours.problem(value)
    if wrong is not None:
        raise ValidationError(localize(wrong, str(get_locale())))


class HoursForm(Form):
    """A shop's opening hours (blank: none, i.e. unknown)."""

    opening_hours = fields.String(validate=_opening_hours)


class ShopForm(Form):
    name = PersonText(required=True, validate=at_most(200), error_messages={"required": _l("Required.")})
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES, error=_l("Pick a category from the list.")), error_messages={"required": _l("Required.")})
    address = PersonText(validate=at_most(500))
    lat = _number(_l("Enter a latitude such as 45.4642."), grouping=False, validate=validate.Range(min=-90, max=90))
    lon = _number(_l("Enter a longitude such as 9.19."), grouping=False, validate=validate.Range(min=-180, max=180))
    opening_hours = fields.String(validate=_opening_hours)

    @validates_schema
    def _located(self, data, **kwargs):
        if ("lat" in data) != ("lon" in data):
            raise ValidationError(_l("Give both latitude and longitude, or neither."), "lat")
        if "lat" not in data and not data.get("address"):
            raise ValidationError(_l("Give an address, or latitude and longitude."), "address")


class OfferForm(Form):
    """An offer as the posting form sends it; its times ("Until", the steps' "From") are read on
    the clock of the shop it is for (`zone`), which is what the page says they are on."""

    def __init__(self, zone: ZoneInfo, **kwargs):
        super().__init__(**kwargs)
        self.zone = zone

    shop_id = fields.String(required=True, validate=at_most(40), error_messages={"required": _l("Pick a shop.")})
    title = PersonText(required=True, validate=at_most(120), error_messages={"required": _l("Required.")})
    description = PersonText(multiline=True, validate=at_most(2000))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES, error=_l("Pick a category from the list.")), error_messages={"required": _l("Required.")})
    original_price = Money(required=True, error_messages={"required": _l("Required.")})
    discount_pct = _number(_l("Enter a percentage such as 50."), required=True, validate=validate.Range(min=0, max=100, max_inclusive=False, error=_l("Must be between 0 and 100.")))
    quantity = _number(_l("Enter a whole number."), whole=True, required=True, validate=validate.Range(min=1, max=999, error=_l("Must be between 1 and 999.")))
    # A datetime-local input: a time on the shop's clock (`zone`), whatever the browser's zone.
    expires_at = fields.String(required=True, error_messages={"required": _l("Required.")})
    # "Keep my time": past the shop's closing time, "Until" is kept rather than cut to it.
    beyond_closing = fields.Boolean(load_default=False)
    # Optional lower prices: from a time of day (the next time the shop's clock shows it), a discount.
    step1_at = ClockTime()
    step1_discount_pct = _number(_l("Enter a percentage such as 55."), validate=validate.Range(min=0, max=100, max_inclusive=False, error=_l("Must be between 0 and 100.")))
    step2_at = ClockTime()
    step2_discount_pct = _number(_l("Enter a percentage such as 55."), validate=validate.Range(min=0, max=100, max_inclusive=False, error=_l("Must be between 0 and 100.")))
    step3_at = ClockTime()
    step3_discount_pct = _number(_l("Enter a percentage such as 55."), validate=validate.Range(min=0, max=100, max_inclusive=False, error=_l("Must be between 0 and 100.")))

    @validates_schema
    def _steps_whole(self, data, **kwargs):
        problems = {}
        for n in STEP_ROWS:
            at, pct = f"step{n}_at", f"step{n}_discount_pct"
            if at in data and pct not in data:
                problems[pct] = [_l("Give the discount from this time on.")]
            elif pct in data and at not in data:
                problems[at] = [_l("Give the time this discount starts.")]
        if problems:
            raise ValidationError(problems)

    @validates_schema
    def _until(self, data, **kwargs):
        if "expires_at" not in data:
            return
        until = wall_clock(data["expires_at"], self.zone)
        if until is None:
            raise ValidationError(_l("Enter a date and time such as 2026-11-22T19:30."), "expires_at")
        data["expires_at"] = until


class QuantityForm(Form):
    quantity = _number(_l("Enter a whole number."), whole=True, required=True, validate=validate.Range(min=0, max=999, error=_l("Must be between 0 and 999.")))


class CollectForm(Form):
    code = fields.String(required=True, validate=at_most(12), error_messages={"required": _l("Enter the customer's code.")})


def said_later(text: Text) -> LazyString:
    """A domain text (domain/i18n.Text), said in the page's language when it is shown."""
    return LazyString(lambda: localize(text, str(get_locale())))


def _rule_field(rule: Rule) -> fields.Field:
    if rule.is_switch:
        return fields.Boolean(load_default=rule.default)
    return _number(said_later(rule.unit.ask), whole=rule.whole, required=True, validate=validate.Range(
        min=rule.low, max=rule.high, max_inclusive=rule.high_inclusive, error=said_later(rule.out_of_bounds)))


def rules_form(rules: tuple[Rule, ...] = RULES) -> type[Form]:
    """Every rule, as the operator's form sends it: built from the rules' declarations
    (domain/rules.py), so with the same bounds as the API."""
    return Form.from_dict({r.name: _rule_field(r) for r in rules}, name="RulesForm")


RulesForm = rules_form()


class PointForm(Form):
    lat = _number(_l("Enter a latitude such as 45.4642."), grouping=False, required=True, validate=validate.Range(min=-90, max=90, error=_l("Must be between -90 and 90.")))
    lon = _number(_l("Enter a longitude such as 9.19."), grouping=False, required=True, validate=validate.Range(min=-180, max=180, error=_l("Must be between -180 and 180.")))


class ReachForm(PointForm):
    """The console's reach preview: with a quantity, the waves an offer there would go out in."""

    quantity = _number(_l("Enter a whole number."), whole=True, validate=validate.Range(min=1, max=999, error=_l("Must be between 1 and 999.")))
    category = fields.String(validate=validate.OneOf(CATEGORIES, error=_l("Pick a category from the list.")))
