"""The marshmallow schemas of API.md: they validate what comes in and describe what goes out."""
from __future__ import annotations

import re

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from ..domain import hours, i18n
from ..domain import merchants as merchant_rules
from ..domain import privacy
from ..domain import reservations as hold_rules
from ..domain.consent import CURRENT_NOTICE, NOTICE_VERSIONS
from ..domain.categories import CATEGORIES
from ..domain.locales import LOCALES
from ..domain.offers import STATUSES
from ..domain.places import DAY_NAMES, MAX_EXTRA_PLACES, MAX_PLACES
from ..domain.pricing import MAX_PRICE_STEPS
from ..domain.rules import RULES, Rule
from ..domain.text import storable
from .media_urls import MediaUrl
from .fields import (
    UNSTORABLE,
    QueryNumber,
    StrictBoolean,
    StrictInteger,
    StrictNumber,
    Currency,
    Text,
    TimeZoneName,
    Token,
    UTCDateTime,
)

MAX_QUANTITY = 999
MAX_PRICE_CENTS = 100_000_000  # a million in the major unit: far above any surplus food

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
HHMM = i18n.Text("must be HH:MM (00:00–23:59).")


class In(Schema):
    """Request bodies: unknown fields are refused, at every level."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _storable_text(self, data, **kwargs):
        # Every string field at once (ids, tokens, emails...), named; nested schemas check their own.
        if isinstance(data, dict):
            bad = {str(key): [UNSTORABLE] for key, value in data.items() if not storable(value)}
            if bad:
                raise ValidationError(bad)
        return data


class Out(Schema):
    class Meta:
        ordered = True


def _name(max_len: int, **kw):
    return Text(validate=validate.Length(min=1, max=max_len), **kw)


LAT = dict(validate=validate.Range(min=-90, max=90), metadata={"description": "WGS-84 latitude, degrees"})
LON = dict(validate=validate.Range(min=-180, max=180), metadata={"description": "WGS-84 longitude, degrees"})
CATEGORY = dict(validate=validate.OneOf(CATEGORIES))


# --- problems --------------------------------------------------------------------------


class ProblemSchema(Out):
    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


# --- merchants and shops ---------------------------------------------------------------


class MerchantCreateSchema(In):
    name = _name(200, required=True)
    email = fields.Email(required=True, validate=validate.Length(max=320))


class MerchantSchema(Out):
    id = fields.String(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(merchant_rules.STATUSES))
    created_at = UTCDateTime()


class MerchantCreatedSchema(MerchantSchema):
    api_key = fields.String(required=True, metadata={"description": "Shown once; keep it."})


class MerchantListSchema(Out):
    items = fields.List(fields.Nested(MerchantSchema), required=True)


class MerchantStatusSchema(In):
    status = fields.String(
        required=True, validate=validate.OneOf(merchant_rules.MODERATED),
        metadata={"description": "`suspended` withdraws the merchant's live offers at once; afterwards it can only withdraw offers."},
    )


class MerchantModeratedSchema(MerchantSchema):
    offers_withdrawn = fields.Integer(
        required=True, metadata={"description": "Live offers this change withdrew (a suspension withdraws them all)."}
    )


def _opening_hours(value: str) -> None:
    wrong = hours.problem(value)
    if wrong is not None:
        raise ValidationError(wrong)


def _hours_field(**kw):
    return fields.String(
        allow_none=True, validate=_opening_hours,
        metadata={"description": "OpenStreetMap `opening_hours` syntax on the shop's clock, e.g. "
                  f"`{hours.EXAMPLE}`; null: unknown, counted as always open. While the shop is "
                  "closed its offers' alerts wait for it to open; an offer is capped to closing time."},
        **kw,
    )


class ShopCreateSchema(In):
    name = _name(200, required=True)
    category = fields.String(required=True, **CATEGORY)
    address = _name(500, allow_none=True)
    lat = StrictNumber(allow_none=True, **LAT)
    lon = StrictNumber(allow_none=True, **LON)
    opening_hours = _hours_field()

    @validates_schema
    def _where(self, data, **kwargs):
        has_lat, has_lon = data.get("lat") is not None, data.get("lon") is not None
        if has_lat != has_lon:
            missing = "lon" if has_lat else "lat"
            raise ValidationError(i18n.Text("give lat and lon together."), missing)
        if not has_lat and not data.get("address"):
            raise ValidationError(i18n.Text("give an address, or lat and lon."), "address")


class OpenNowSchema(Out):
    """What a shop's opening hours say at the time of the answer."""

    open_now = fields.Boolean(
        allow_none=True, required=True,
        metadata={"description": "Open at the time of the answer; null when the shop has no opening_hours."},
    )
    open_until = UTCDateTime(
        allow_none=True, required=True, metadata={"description": "While open: when it closes next (null: not within a week)."},
    )
    opens_at = UTCDateTime(
        allow_none=True, required=True, metadata={"description": "While closed: when it opens next (null: not within a week)."},
    )


class ShopSchema(OpenNowSchema):
    id = fields.String(required=True)
    merchant_id = fields.String(required=True)
    name = fields.String(required=True)
    category = fields.String(required=True)
    address = fields.String(allow_none=True, required=True)
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)
    timezone = fields.String(required=True, metadata={"description": "The IANA zone of lat/lon: the shop's clock."})
    opening_hours = _hours_field(required=True)


class ShopPatchSchema(In):
    opening_hours = _hours_field(required=True)


class ShopListSchema(Out):
    items = fields.List(fields.Nested(ShopSchema), required=True)


# --- offers ----------------------------------------------------------------------------


class PriceStepSchema(In):
    """A lower price from a given time on: held to the band like the offer's own price."""

    at = UTCDateTime(
        required=True,
        metadata={"description": "From when; after now, before expires_at and after the step before."},
    )
    discount_pct = StrictNumber(
        validate=validate.Range(min=0, max=100),
        metadata={"description": "Percent off the original price; give this or price_cents."},
    )
    price_cents = StrictInteger(
        validate=validate.Range(min=0, max=MAX_PRICE_CENTS),
        metadata={"description": "The price from `at` on; give this or discount_pct."},
    )

    @validates_schema
    def _one_price(self, data, **kwargs):
        given = [k for k in ("discount_pct", "price_cents") if data.get(k) is not None]
        if len(given) != 1:
            message = i18n.Text("give exactly one of discount_pct and price_cents.")
            raise ValidationError({"discount_pct": [message], "price_cents": [message]})


_PRICE_STEPS_DOC = (
    "Lower prices as expiry nears, ascending in time, each below the price before it and within the "
    "operator's discount band; residents who asked for price drops are told at each step."
)


class OfferCreateSchema(In):
    shop_id = fields.String(required=True, validate=validate.Length(min=1, max=40))
    title = _name(120, required=True)
    description = Text(multiline=True, validate=validate.Length(max=2000), allow_none=True)
    category = fields.String(required=True, **CATEGORY)
    original_price_cents = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_PRICE_CENTS))
    discount_pct = StrictNumber(
        # 0 and 100 are discounts, only never inside the band: the operator rule answers (422).
        validate=validate.Range(min=0, max=100),
        metadata={"description": "Percent off the original price; give this or price_cents."},
    )
    price_cents = StrictInteger(
        validate=validate.Range(min=0, max=MAX_PRICE_CENTS),
        metadata={"description": "The discounted price; give this or discount_pct."},
    )
    currency = Currency(metadata={"description": "An ISO 4217 code, such as EUR."})
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_QUANTITY))
    expires_at = UTCDateTime(
        required=True,
        metadata={"description": "When the offer ends. Past the shop's closing time (its `opening_hours`) "
                  "it is cut to closing time, and the answer says `capped_to_closing: true`, unless "
                  "`beyond_closing` is true."},
    )
    beyond_closing = StrictBoolean(
        metadata={"description": "Keep `expires_at` even past the shop's closing time (the hours may be "
                  "out of date today). Default false."},
    )
    image_url = fields.Url(schemes={"http", "https"}, validate=validate.Length(max=2048), allow_none=True)
    price_steps = fields.List(
        fields.Nested(PriceStepSchema),
        validate=validate.Length(min=1, max=MAX_PRICE_STEPS),
        metadata={"description": _PRICE_STEPS_DOC},
    )

    @validates_schema
    def _one_price(self, data, **kwargs):
        given = [k for k in ("discount_pct", "price_cents") if data.get(k) is not None]
        if len(given) != 1:
            message = i18n.Text("give exactly one of discount_pct and price_cents.")
            raise ValidationError({"discount_pct": [message], "price_cents": [message]})


class OfferPatchSchema(In):
    quantity = StrictInteger(
        validate=validate.Range(min=0, max=MAX_QUANTITY),
        metadata={"description": "The new total quantity; what is reserved or collected stays."},
    )
    status = fields.String(validate=validate.OneOf(["cancelled", "sold_out"]))
    price_steps = fields.List(
        fields.Nested(PriceStepSchema),
        allow_none=True,
        validate=validate.Length(max=MAX_PRICE_STEPS),
        metadata={
            "description": "Replaces the steps not yet applied (the offer must be active); [] or null removes them. "
            + _PRICE_STEPS_DOC
        },
    )

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError(i18n.Text("give quantity, status or price_steps."), "quantity")


class PriceStepOutSchema(Out):
    at = UTCDateTime(required=True)
    price_cents = fields.Integer(required=True)
    discount_pct = fields.Float(required=True)
    applied = fields.Boolean(required=True, metadata={"description": "The offer has taken this price."})


class OfferSchema(Out):
    id = fields.String(required=True)
    shop_id = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(allow_none=True, required=True)
    category = fields.String(required=True)
    original_price_cents = fields.Integer(required=True)
    price_cents = fields.Integer(required=True)
    discount_pct = fields.Float(required=True)
    currency = fields.String(required=True)
    quantity = fields.Integer(required=True)
    quantity_left = fields.Integer(required=True)
    expires_at = UTCDateTime(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    image_url = MediaUrl(
        allow_none=True,
        metadata={"description": "The offer's photo (its large version, at most 1 MB), else the image link given when posting."},
    )
    thumbnail_url = MediaUrl(
        allow_none=True,
        metadata={"description": "A small version of the offer's photo, for lists; null without a photo."},
    )
    created_at = UTCDateTime(required=True)
    price_steps = fields.List(
        fields.Nested(PriceStepOutSchema),
        required=True,
        metadata={"description": "The schedule of lower prices, in order; empty when none."},
    )
    next_price_at = UTCDateTime(
        allow_none=True,
        required=True,
        metadata={"description": "When the next price step applies; null when none is left or the offer is not active."},
    )


class OfferCreatedSchema(OfferSchema):
    capped_to_closing = fields.Boolean(
        required=True,
        metadata={"description": "`expires_at` was cut to the shop's closing time (its `opening_hours`) "
                  "because the offer would have outlived it; send `beyond_closing: true` to keep your time."},
    )


class OfferListSchema(Out):
    items = fields.List(fields.Nested(OfferSchema), required=True)


class OfferStatsSchema(Out):
    """Counts of residents are coarse (they must not locate anyone): 0 means too few to show;
    any other is about that many (the count with a secret offset, rounded down
    to 10, 50 from 100, 500 from 1,000). reserved and collected are exact."""

    matched = fields.Integer(required=True, metadata={"description": "Residents the offer reached by place and interest."})
    sent = fields.Integer(required=True)
    failed = fields.Integer(required=True, metadata={"description": "Dead tokens and undeliverable pushes."})
    suppressed = fields.Integer(required=True, metadata={"description": "Held back by quiet hours or daily caps."})
    opened = fields.Integer(
        required=True, metadata={"description": "Residents who opened its alert or a price drop of it "
                                                "(POST /api/v1/notifications/{id}/opened)."}
    )
    dropped = fields.Integer(required=True, metadata={"description": "Not sent: the offer or the resident was no longer active."})
    pending = fields.Integer(required=True, metadata={"description": "Still to be sent (queued, deferred or retrying)."})
    price_drops = fields.Integer(
        required=True, metadata={"description": "Price-drop pushes sent (one a resident a price step), not counted above."}
    )
    reserved = fields.Integer(required=True)
    collected = fields.Integer(required=True)
    waves = fields.List(
        fields.Nested(lambda: ToldWaveSchema()), required=True,
        metadata={"description": "The waves done so far, first to last (one when waves are off); a later wave is "
                                 "listed only when its coarse count shows."},
    )
    next_wave_at = UTCDateTime(
        required=True, allow_none=True,
        metadata={"description": "When the next wave is due while the offer lasts (every wave_interval_s after the "
                                 "first, whether or not anyone is left to tell); null: none."},
    )


class ToldWaveSchema(Out):
    wave = fields.Integer(required=True, metadata={"description": "1 is the first wave."})
    residents = fields.Integer(required=True, metadata={"description": f"Residents it told (coarse: 0 is fewer than {privacy.FEW})."})
    at = UTCDateTime(required=True, metadata={"description": "When it went out."})


class DealShopSchema(OpenNowSchema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    address = fields.String(allow_none=True, required=True)
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)


class DealSchema(OfferSchema):
    shop = fields.Nested(DealShopSchema, required=True)
    distance_m = fields.Float(required=True)


class DealListSchema(Out):
    items = fields.List(fields.Nested(DealSchema), required=True)


class DealsQuerySchema(Schema):
    lat = QueryNumber(required=True, **LAT)
    lon = QueryNumber(required=True, **LON)
    radius_m = fields.Integer(
        strict=False,
        validate=validate.Range(min=1),
        metadata={"description": "Metres; default the rule default_radius_m, at most max_radius_m."},
    )
    category = fields.String(**CATEGORY)
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


def _storable(value) -> None:
    if not storable(value):
        raise ValidationError(UNSTORABLE)


class ShopOffersQuerySchema(Schema):
    shop_id = fields.String(required=True, validate=[validate.Length(min=1, max=40), _storable])


# --- subscribers -----------------------------------------------------------------------


class QuietHoursSchema(In):
    start = fields.String(required=True, validate=validate.Regexp(_HHMM, error=HHMM))
    end = fields.String(required=True, validate=validate.Regexp(_HHMM, error=HHMM))

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if data.get("start") is not None and data.get("start") == data.get("end"):
            raise ValidationError(i18n.Text("must differ from start."), "end")


def _no_repeats(values) -> None:
    if len(set(values)) != len(values):
        raise ValidationError(i18n.Text("must not name a day twice."))


RADIUS_M = dict(
    validate=validate.Range(min=1, max=10_000_000),
    metadata={"description": "Metres; default the rule default_radius_m, at most max_radius_m."},
)


class PlaceSchema(In):
    """A place beyond the main one (lat/lon/radius_m), such as work: counted only on its days and in its hours."""

    label = _name(32, required=True, metadata={"description": "The resident's name for the place, such as work."})
    lat = StrictNumber(required=True, **LAT)
    lon = StrictNumber(required=True, **LON)
    radius_m = StrictInteger(**RADIUS_M)
    days = fields.List(
        fields.String(validate=validate.OneOf(DAY_NAMES)),
        validate=[validate.Length(min=1, max=len(DAY_NAMES)), _no_repeats],
        metadata={"description": "The days the place counts on; absent: every day.", "uniqueItems": True},
    )
    hours = fields.Nested(
        QuietHoursSchema,
        allow_none=True,
        metadata={
            "description": "The hours the place counts in, on the resident's timezone; start after end runs "
            "past midnight and belongs to the day it starts on. Absent or null: all day."
        },
    )


class _SubscriberFields(In):
    fcm_token = Token(validate=validate.Length(min=1, max=4096))
    lat = StrictNumber(**LAT)
    lon = StrictNumber(**LON)
    radius_m = StrictInteger(**RADIUS_M)
    categories = fields.List(
        fields.String(**CATEGORY), validate=validate.Length(max=len(CATEGORIES)),
        metadata={"description": "Empty: every category."},
    )
    quiet_hours = fields.Nested(QuietHoursSchema, allow_none=True)
    timezone = TimeZoneName(
        validate=validate.Length(max=64),
        allow_none=True,
        metadata={
            "description": "IANA name; default the zone of lat/lon (UTC at sea), which then follows the "
            "resident's moves until they send one of their own. null: back to the zone of lat/lon, "
            "following moves again."
        },
    )
    locale = fields.String(
        validate=validate.OneOf(LOCALES),
        metadata={
            "description": "The language of the resident's pushes; default the best match of Accept-Language, "
            "else the service's default (DEALSVC_DEFAULT_LOCALE)."
        },
    )
    max_per_day = StrictInteger(
        allow_none=True, validate=validate.Range(min=1, max=100),
        metadata={"description": "Own cap on pushes a day; the operator's cap applies too."},
    )
    places = fields.List(
        fields.Nested(PlaceSchema),
        validate=validate.Length(
            max=MAX_EXTRA_PLACES, error=i18n.Text("at most {extra} places besides lat/lon: {all} in all.", extra=MAX_EXTRA_PLACES, all=MAX_PLACES)
        ),
        metadata={
            "description": f"Up to {MAX_EXTRA_PLACES} more places besides lat/lon, which always counts. "
            "A PATCH replaces the whole list; [] clears it."
        },
    )
    price_drops = StrictBoolean(
        metadata={"description": "Also push when the price of an offer already pushed drops; default false."}
    )
    privacy_notice_version = fields.String(
        validate=validate.OneOf(NOTICE_VERSIONS),
        metadata={
            "description": f"The version of the privacy notice the resident was shown and accepted (now "
            f"{CURRENT_NOTICE!r}); the time it was accepted is recorded with it. Sending it again records a new acceptance."
        },
    )


class SubscriberCreateSchema(_SubscriberFields):
    fcm_token = Token(required=True, validate=validate.Length(min=1, max=4096))
    lat = StrictNumber(required=True, **LAT)
    lon = StrictNumber(required=True, **LON)


class SubscriberPatchSchema(_SubscriberFields):
    @validates_schema
    def _both(self, data, **kwargs):
        if ("lat" in data) != ("lon" in data):
            raise ValidationError(i18n.Text("give lat and lon together."), "lon" if "lat" in data else "lat")


class QuietHoursOutSchema(Out):
    start = fields.String(required=True)
    end = fields.String(required=True)


class PlaceOutSchema(Out):
    label = fields.String(required=True)
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)
    radius_m = fields.Integer(required=True)
    days = fields.List(fields.String(), required=True, metadata={"description": "Every day: all seven."})
    hours = fields.Nested(QuietHoursOutSchema, allow_none=True, required=True, metadata={"description": "null: all day."})


class PrivacyNoticeAcceptedSchema(Out):
    version = fields.String(required=True)
    accepted_at = UTCDateTime(required=True)


class SubscriberSchema(Out):
    id = fields.String(required=True)
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)
    radius_m = fields.Integer(required=True)
    categories = fields.List(fields.String(), required=True)
    quiet_hours = fields.Nested(QuietHoursOutSchema, allow_none=True, required=True)
    timezone = fields.String(required=True)
    locale = fields.String(required=True, metadata={"enum": list(LOCALES)})
    max_per_day = fields.Integer(allow_none=True, required=True)
    places = fields.List(
        fields.Nested(PlaceOutSchema), required=True, metadata={"description": "The places besides lat/lon, in order."}
    )
    price_drops = fields.Boolean(required=True)
    active = fields.Boolean(required=True)
    created_at = UTCDateTime(required=True)
    privacy_notice = fields.Nested(
        PrivacyNoticeAcceptedSchema, allow_none=True, required=True,
        metadata={"description": "The privacy notice accepted, and when; null: none recorded."},
    )


class SubscriberCreatedSchema(SubscriberSchema):
    secret = fields.String(required=True, metadata={"description": "Shown once; keep it."})


# --- favourite shops -------------------------------------------------------------------


class FavoriteShopSchema(In):
    shop_id = fields.String(required=True, validate=validate.Length(min=1, max=40))


class FavoriteSchema(Out):
    shop_id = fields.String(required=True)
    name = fields.String(required=True)
    category = fields.String(required=True)
    created_at = UTCDateTime(required=True, metadata={"description": "When the resident started following the shop."})


class FavoriteListSchema(Out):
    items = fields.List(fields.Nested(FavoriteSchema), required=True, metadata={"description": "Newest first."})


# --- operator --------------------------------------------------------------------------


def _rule_out(rule: Rule) -> fields.Field:
    kw = {"metadata": {"description": rule.doc}} if rule.doc else {}
    field = {bool: fields.Boolean, int: fields.Integer, float: fields.Float}[rule.kind]
    return field(required=True, **kw)


def _rule_in(rule: Rule) -> fields.Field:
    if rule.is_switch:
        return StrictBoolean()
    field = StrictInteger if rule.whole else StrictNumber
    return field(validate=validate.Range(min=rule.low, max=rule.high, max_inclusive=rule.high_inclusive))


def rules_schemas(rules: tuple[Rule, ...] = RULES) -> tuple[type[Out], type[In]]:
    """The rules as the API shows them, and a change of any subset of them (those not given keep
    their values): their fields, types and bounds come from their declarations (domain/rules.py)."""
    return (
        Out.from_dict({r.name: _rule_out(r) for r in rules}, name="RulesSchema"),
        In.from_dict({r.name: _rule_in(r) for r in rules}, name="RulesUpdateSchema"),
    )


RulesSchema, RulesUpdateSchema = rules_schemas()


class RuleChangeSchema(Out):
    changed_at = UTCDateTime(required=True)
    name = fields.String(required=True)
    old_value = fields.Raw(required=True, allow_none=True)
    new_value = fields.Raw(required=True, allow_none=True)


class RuleHistorySchema(Out):
    items = fields.List(fields.Nested(RuleChangeSchema), required=True)


class PointQuerySchema(Schema):
    lat = QueryNumber(required=True, **LAT)
    lon = QueryNumber(required=True, **LON)


class ReachQuerySchema(PointQuerySchema):
    quantity = fields.Integer(
        validate=validate.Range(min=1, max=MAX_QUANTITY),
        metadata={"description": "Items of a would-be offer: the answer then shows the waves it would go out in."},
    )
    category = fields.String(**CATEGORY, metadata={"description": "Only residents who take this category."})


class WaveSchema(Out):
    wave = fields.Integer(required=True, metadata={"description": "1 is the first wave."})
    after_s = fields.Integer(required=True, metadata={"description": "Seconds after posting."})
    residents = fields.Integer(required=True, metadata={"description": "Residents told in this wave, if nothing sells before."})


class ReachSchema(Out):
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)
    subscribers = fields.Integer(required=True, metadata={"description": "Active residents reached now."})
    waves = fields.List(
        fields.Nested(WaveSchema),
        metadata={"description": "With `quantity`: the waves under the rules in force (one wave when waves are off)."},
    )


class MerchantQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(merchant_rules.STATUSES))


# --- reservations and idempotency --------------------------------------------------------


class IdempotencyHeaderSchema(Schema):
    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=[validate.Length(min=1, max=200), validate.Regexp(r"^[\x21-\x7e]+$", error=i18n.Text("must be printable ASCII without spaces."))],
        metadata={"description": "Send the same key to retry safely: the first answer is replayed; the same key with another body is a 422."},
    )


class ReservationCreateSchema(In):
    quantity = StrictInteger(
        required=True, validate=validate.Range(min=1, max=MAX_QUANTITY),
        metadata={"description": "At most the operator rule max_reservation_quantity (a 422 above it)."},
    )


class CollectSchema(In):
    code = fields.String(required=True, validate=validate.Length(min=1, max=12))


class ReservationSchema(Out):
    id = fields.String(required=True)
    offer_id = fields.String(required=True)
    quantity = fields.Integer(required=True)
    code = fields.String(required=True, metadata={"description": "Show it at the shop to collect."})
    status = fields.String(required=True, validate=validate.OneOf(hold_rules.STATUSES))
    expires_at = UTCDateTime(
        required=True,
        metadata={"description": "When the hold ends by itself unless collected: hold_minutes after it was made, or with the offer if sooner."},
    )
    created_at = UTCDateTime(required=True)


class ReservationListSchema(Out):
    items = fields.List(fields.Nested(ReservationSchema), required=True)


# --- a resident's data, given back -------------------------------------------------------


class ExportTokenSchema(Out):
    fcm_token = fields.String(required=True, metadata={"description": "Empty once dropped or after leaving."})
    seen_at = UTCDateTime(allow_none=True, required=True, metadata={"description": "When the app last presented it."})


class ExportSubscriberSchema(SubscriberSchema):
    token = fields.Nested(ExportTokenSchema, required=True)
    updated_at = UTCDateTime(required=True)
    deactivated_at = UTCDateTime(allow_none=True, required=True, metadata={"description": "When alerts stopped (a dead token, a newer registration); null while active."})


class ExportAlertSchema(Out):
    notification_id = fields.String(required=True, metadata={"description": "As the push's `data.notification_id` said."})
    offer_id = fields.String(required=True)
    offer_title = fields.String(required=True)
    shop_id = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "alert; withdraw (the deal was gone); price-<n> (a price drop)."})
    status = fields.String(required=True, metadata={"description": "pending, sending, sent, failed, suppressed or dropped."})
    reason = fields.String(allow_none=True, required=True)
    distance_m = fields.Float(allow_none=True, required=True, metadata={"description": "From the resident's place to the shop, as the alert said."})
    created_at = UTCDateTime(required=True)
    sent_at = UTCDateTime(allow_none=True, required=True)
    opened_at = UTCDateTime(allow_none=True, required=True, metadata={"description": "When the resident reported opening it; null if never."})


class SubscriberExportSchema(Out):
    exported_at = UTCDateTime(required=True)
    subscriber = fields.Nested(ExportSubscriberSchema, required=True, metadata={"description": "The subscription, its places and consent."})
    favorites = fields.List(fields.Nested(FavoriteSchema), required=True, metadata={"description": "The shops followed, oldest first."})
    reservations = fields.List(fields.Nested(ReservationSchema), required=True, metadata={"description": "Every reservation, oldest first."})
    alerts = fields.List(
        fields.Nested(ExportAlertSchema), required=True,
        metadata={"description": "The pushes planned or sent to the resident, oldest first; those older than the "
                  "retention period (DEALSVC_RETENTION_DAYS) are no longer linked to anyone."},
    )


class MerchantErasedSchema(Out):
    id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "suspended: an erased merchant cannot sign in or post."})
    erased_at = UTCDateTime(required=True)
    shops = fields.Integer(required=True, metadata={"description": "Its shops, whose names and addresses were erased."})
    offers = fields.Integer(required=True, metadata={"description": "Its offers, whose descriptions and pictures were erased."})
    offers_withdrawn = fields.Integer(required=True, metadata={"description": "Live offers withdrawn by this erasure (0 when erased before)."})
