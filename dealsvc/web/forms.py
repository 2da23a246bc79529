"""Marshmallow schemas for the pages' forms: text fields in, typed values out, errors keyed by field."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import NumberFormatError, parse_decimal
from flask_babel import get_locale, lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from ..adapters.catalogues import localize
from ..domain.text import text_problem
from ..domain.categories import CATEGORIES

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
        bad = {k: [_l("Contains characters that cannot be stored.")] for k, v in data.items() if not _storable(v)}
        if bad:
            raise ValidationError(bad)
        return data


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
            shown = localize(problem, str(get_locale()))
            raise ValidationError(shown[:1].upper() + shown[1:])
        return text


class Money(fields.Field):
    """An amount in the major unit as a person types it ("4", "4.5", "4,50") -> integer cents."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value).replace("€", "").strip()
        try:
            # The page's language first ("4,50" or "1.234,50" in Italian, "1,234.50" in English) ...
            amount = parse_decimal(text, locale=get_locale(), strict=True)
        except NumberFormatError:
            # ... else either mark as the decimal point, as people type on any keyboard ("4.50" in Milan).
            try:
                amount = Decimal(text.replace(",", "."))
            except InvalidOperation:
                raise ValidationError(_l("Enter an amount such as 4.50.")) from None
        if not amount.is_finite() or amount.as_tuple().exponent < -2:
            raise ValidationError(_l("Enter an amount with at most two decimals, such as 4.50."))
        if amount > Decimal(MAX_PRICE_CENTS) / 100:  # before multiplying: 1e999999999 overflows
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


def zone_of(name: str | None) -> ZoneInfo:
    """The browser's time zone as the form sent it; UTC when missing or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        return ZoneInfo("UTC")


def next_time_of_day(clock: time, zone: ZoneInfo, now: datetime) -> datetime:
    """The next moment after `now` that the clock in `zone` reads `clock`: today's, or
    tomorrow's once today's has passed (a step at 00:30 of an offer posted at 23:00)."""
    local_now = now.astimezone(zone)
    at = datetime.combine(local_now.date(), clock, tzinfo=zone)
    if at <= local_now:
        at = datetime.combine(local_now.date() + timedelta(days=1), clock, tzinfo=zone)
    return at


def _number(cls, message: str, **kw):
    return cls(error_messages={"invalid": message, "special": message, "required": _l("Required.")}, **kw)


class SignInForm(Form):
    secret = fields.String(required=True, error_messages={"required": _l("Required.")}, validate=validate.Length(max=500))


class ShopForm(Form):
    name = PersonText(required=True, validate=validate.Length(min=1, max=200), error_messages={"required": _l("Required.")})
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES, error=_l("Pick a category from the list.")), error_messages={"required": _l("Required.")})
    address = PersonText(validate=validate.Length(max=500))
    lat = _number(fields.Float, _l("Enter a latitude such as 45.4642."), validate=validate.Range(min=-90, max=90))
    lon = _number(fields.Float, _l("Enter a longitude such as 9.19."), validate=validate.Range(min=-180, max=180))

    @validates_schema
    def _located(self, data, **kwargs):
        if ("lat" in data) != ("lon" in data):
            raise ValidationError(_l("Give both latitude and longitude, or neither."), "lat")
        if "lat" not in data and not data.get("address"):
            raise ValidationError(_l("Give an address, or latitude and longitude."), "address")


class OfferForm(Form):
    shop_id = fields.String(required=True, validate=validate.Length(max=40), error_messages={"required": _l("Pick a shop.")})
    title = PersonText(required=True, validate=validate.Length(min=1, max=120), error_messages={"required": _l("Required.")})
    description = PersonText(multiline=True, validate=validate.Length(max=2000))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES, error=_l("Pick a category from the list.")), error_messages={"required": _l("Required.")})
    original_price = Money(required=True, error_messages={"required": _l("Required.")})
    discount_pct = _number(fields.Float, _l("Enter a percentage such as 50."), required=True, validate=validate.Range(min=0, max=100, max_inclusive=False, error=_l("Must be between 0 and 100.")))
    quantity = _number(fields.Integer, _l("Enter a whole number."), required=True, strict=False, validate=validate.Range(min=1, max=999, error=_l("Must be between 1 and 999.")))
    # A datetime-local input: the shop's wall-clock time, in the browser's zone (`tz`).
    expires_at = fields.String(required=True, error_messages={"required": _l("Required.")})
    tz = fields.String(load_default="UTC")
    # Optional lower prices: from a time of day (the next time the shop's clock shows it), a discount.
    step1_at = ClockTime()
    step1_discount_pct = _number(fields.Float, _l("Enter a percentage such as 55."), validate=validate.Range(min=0, max=100, max_inclusive=False, error=_l("Must be between 0 and 100.")))
    step2_at = ClockTime()
    step2_discount_pct = _number(fields.Float, _l("Enter a percentage such as 55."), validate=validate.Range(min=0, max=100, max_inclusive=False, error=_l("Must be between 0 and 100.")))
    step3_at = ClockTime()
    step3_discount_pct = _number(fields.Float, _l("Enter a percentage such as 55."), validate=validate.Range(min=0, max=100, max_inclusive=False, error=_l("Must be between 0 and 100.")))

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
        zone = zone_of(data.get("tz"))
        try:
            local = datetime.fromisoformat(data["expires_at"])
        except ValueError:
            raise ValidationError(_l("Enter a date and time such as 2026-11-22T19:30."), "expires_at") from None
        data["expires_at"] = local.replace(tzinfo=zone) if local.tzinfo is None else local


class QuantityForm(Form):
    quantity = _number(fields.Integer, _l("Enter a whole number."), required=True, strict=False, validate=validate.Range(min=0, max=999, error=_l("Must be between 0 and 999.")))


class CollectForm(Form):
    code = fields.String(required=True, validate=validate.Length(min=1, max=12), error_messages={"required": _l("Enter the customer's code.")})


class RulesForm(Form):
    """Every rule, as the operator's form sends it; the same ranges as the API."""

    min_discount_pct = _number(fields.Float, _l("Enter a percentage."), required=True, validate=validate.Range(min=0, max=100, max_inclusive=False, error=_l("Must be from 0 up to (not including) 100.")))
    max_discount_pct = _number(fields.Float, _l("Enter a percentage."), required=True, validate=validate.Range(min=0, max=100, max_inclusive=False, error=_l("Must be from 0 up to (not including) 100.")))
    default_radius_m = _number(fields.Integer, _l("Enter whole metres."), required=True, validate=validate.Range(min=1, max=50_000, error=_l("Must be between 1 and 50000 m.")))
    max_radius_m = _number(fields.Integer, _l("Enter whole metres."), required=True, validate=validate.Range(min=1, max=50_000, error=_l("Must be between 1 and 50000 m.")))
    max_offer_horizon_h = _number(fields.Integer, _l("Enter whole hours."), required=True, validate=validate.Range(min=1, max=720, error=_l("Must be between 1 and 720 h.")))
    min_offer_lifetime_s = _number(fields.Integer, _l("Enter whole seconds."), required=True, validate=validate.Range(min=0, max=86_400, error=_l("Must be between 0 and 86400 s.")))
    max_notifications_per_day = _number(fields.Integer, _l("Enter a whole number."), required=True, validate=validate.Range(min=0, max=1000, error=_l("Must be between 0 and 1000.")))
    merchant_approval_required = fields.Boolean(load_default=False)
    max_shops_per_merchant = _number(fields.Integer, _l("Enter a whole number."), required=True, validate=validate.Range(min=1, max=1000, error=_l("Must be between 1 and 1000.")))
    waves_enabled = fields.Boolean(load_default=True)
    wave_factor = _number(fields.Integer, _l("Enter a whole number."), required=True, validate=validate.Range(min=1, max=1000, error=_l("Must be between 1 and 1000.")))
    wave_interval_s = _number(fields.Integer, _l("Enter whole seconds."), required=True, validate=validate.Range(min=30, max=86_400, error=_l("Must be between 30 and 86400 s.")))
    max_reservation_quantity = _number(fields.Integer, _l("Enter a whole number."), required=True, validate=validate.Range(min=1, max=999, error=_l("Must be between 1 and 999.")))
    max_active_holds = _number(fields.Integer, _l("Enter a whole number."), required=True, validate=validate.Range(min=1, max=100, error=_l("Must be between 1 and 100.")))
    hold_minutes = _number(fields.Integer, _l("Enter whole minutes."), required=True, validate=validate.Range(min=1, max=1440, error=_l("Must be between 1 and 1440 min.")))


class PointForm(Form):
    lat = _number(fields.Float, _l("Enter a latitude such as 45.4642."), required=True, validate=validate.Range(min=-90, max=90, error=_l("Must be between -90 and 90.")))
    lon = _number(fields.Float, _l("Enter a longitude such as 9.19."), required=True, validate=validate.Range(min=-180, max=180, error=_l("Must be between -180 and 180.")))


class ReachForm(PointForm):
    """The console's reach preview: with a quantity, the waves an offer there would go out in."""

    quantity = _number(fields.Integer, _l("Enter a whole number."), strict=False, validate=validate.Range(min=1, max=999, error=_l("Must be between 1 and 999.")))
    category = fields.String(validate=validate.OneOf(CATEGORIES, error=_l("Pick a category from the list.")))
