"""Who may be told about an offer now: quiet hours, daily caps in the resident's own day, and
what the push says."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_time
from babel.numbers import format_currency, format_percent
from babel.units import format_unit

from .i18n import Gettext
from .offers import CANCELLED, SOLD_OUT


def _parse_hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _local_at(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant a wall-clock time occurs on a local day (a time skipped by a DST jump
    resolves to the instant just after the jump)."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone)
    # Round-trip through UTC normalizes a non-existent wall time (spring forward).
    return aware.astimezone(timezone.utc).astimezone(zone)


def quiet_until(now: datetime, zone_name: str, start: str | None, end: str | None) -> datetime | None:
    """When `now` falls in the resident's quiet hours, the UTC instant they end; else None.

    A period with start > end spans midnight (22:00–07:00).
    """
    if not start or not end:
        return None
    return _quiet_until(now, zone_name, start, end)


# A claim decides its pushes at one instant, and its residents share a handful of zones and
# quiet hours: each answer is worked out once per claim (about 20 µs), not once per push.
@lru_cache(maxsize=512)
def _quiet_until(now: datetime, zone_name: str, start: str, end: str) -> datetime | None:
    zone = ZoneInfo(zone_name)
    local = now.astimezone(zone)
    s, e = _parse_hhmm(start), _parse_hhmm(end)
    today = local.date()
    candidates = []
    if s < e:
        candidates.append((_local_at(today, s, zone), _local_at(today, e, zone)))
    else:
        yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
        candidates.append((_local_at(yesterday, s, zone), _local_at(today, e, zone)))
        candidates.append((_local_at(today, s, zone), _local_at(tomorrow, e, zone)))
    for begin, finish in candidates:
        if begin <= local < finish:
            return finish.astimezone(timezone.utc)
    return None


@lru_cache(maxsize=512)  # as _quiet_until: once per claim and zone, not per push
def local_day(now: datetime, zone_name: str) -> str:
    """The resident's calendar day (YYYY-MM-DD) at `now`: daily caps count within it."""
    return now.astimezone(ZoneInfo(zone_name)).date().isoformat()


def daily_cap(own_cap: int | None, operator_cap: int) -> int:
    """The stricter of the resident's own cap and the operator's."""
    return operator_cap if own_cap is None else min(own_cap, operator_cap)


@dataclass(frozen=True)
class PushText:
    title: str
    body: str


# Every text below is in the message catalogues (dealsvc/translations); what is written around
# it (money, percents, distances, times) is formatted by Babel in the resident's locale.


# Each formatter is a pure function of a few values that a wave repeats for every resident (one
# offer's prices and end, a handful of locales and zones, distances rounded to what is shown):
# cached, Babel's work is done once per value instead of once per push.


@lru_cache(maxsize=4096)
def _money(cents: int, currency: str, locale: str) -> str:
    return format_currency(Decimal(cents) / 100, currency, locale=locale)


@lru_cache(maxsize=1024)
def _discount(discount_pct: float, locale: str) -> str:
    """"-50 %", "-33,3 %": at most one decimal, none when it is whole."""
    share = (Decimal(str(discount_pct)).quantize(Decimal("0.1"), ROUND_HALF_UP) / 100).normalize()
    return format_percent(-share, locale=locale, decimal_quantization=False)


def distance_text(metres: float, locale: str) -> str:
    """"300 m" (to the nearest 10 m), from 950 m on "1,2 km" / "1.2 km"."""
    if metres < 950:
        return _metres(int(round(metres / 10.0) * 10), locale)
    return _kilometres(Decimal(str(metres / 1000)).quantize(Decimal("0.1"), ROUND_HALF_UP), locale)


@lru_cache(maxsize=1024)
def _metres(metres: int, locale: str) -> str:
    return format_unit(metres, "length-meter", length="short", locale=locale)


@lru_cache(maxsize=4096)
def _kilometres(km: Decimal, locale: str) -> str:
    return format_unit(km, "length-kilometer", length="short", format="#,##0.#", locale=locale)


@lru_cache(maxsize=4096)
def _until(expires_at: datetime, zone_name: str, locale: str) -> str:
    """The time on the resident's clock, written the way their language writes it (19:30, 7:30 PM)."""
    return format_time(expires_at, format="short", tzinfo=ZoneInfo(zone_name), locale=locale)


def _deal_values(price_cents: int, original_price_cents: int, currency: str, distance_m: float,
                 locale: str) -> dict[str, str]:
    """What an alert and the price drop that replaces it both say of the deal."""
    return {
        "price": _money(price_cents, currency, locale),
        "original": _money(original_price_cents, currency, locale),
        "distance": distance_text(distance_m, locale),
    }


def _until_body(_, values: dict[str, str], expires_at: datetime, zone_name: str, locale: str,
                closes_at: datetime | None = None) -> str:
    """The alert's body: the deal until it ends, or until the shop closes when that comes first
    ("open until 19:30"), on the resident's clock."""
    if closes_at is not None and closes_at <= expires_at:
        return _("{price} instead of {original}, {distance} away, open until {closes}").format(
            closes=_until(closes_at, zone_name, locale), **values
        )
    return _("{price} instead of {original}, {distance} away, until {time}").format(
        time=_until(expires_at, zone_name, locale), **values
    )


def push_text(
    *,
    title: str,
    shop_name: str,
    discount_pct: float,
    price_cents: int,
    original_price_cents: int,
    currency: str,
    distance_m: float,
    expires_at: datetime,
    zone_name: str,
    locale: str,
    translations: Gettext,
    closes_at: datetime | None = None,
) -> PushText:
    """What a person reads on the lock screen: the deal, where, how far, until when, in their
    language and on their clock. When the shop closes (`closes_at`, from its opening hours)
    before the offer ends, or as it ends, the closing time is the one that counts: "open until
    19:30", on the resident's clock like every time they read."""
    _ = translations.gettext
    values = _deal_values(price_cents, original_price_cents, currency, distance_m, locale)
    return PushText(
        title=_("{discount} {title} at {shop}").format(
            discount=_discount(discount_pct, locale), title=title, shop=shop_name
        )[:200],
        body=_until_body(_, values, expires_at, zone_name, locale, closes_at),
    )


def price_drop_text(
    *,
    title: str,
    shop_name: str,
    discount_pct: float,
    price_cents: int,
    original_price_cents: int,
    previous_price_cents: int | None,
    currency: str,
    distance_m: float,
    expires_at: datetime,
    zone_name: str,
    locale: str,
    translations: Gettext,
) -> PushText:
    """What a person reads when a deal they were told about gets cheaper: it replaces the alert
    on the lock screen, so it says all the alert said, the new price first."""
    _ = translations.gettext
    values = _deal_values(price_cents, original_price_cents, currency, distance_m, locale)
    if previous_price_cents is None:
        body = _until_body(_, values, expires_at, zone_name, locale)
    else:
        body = _("{price} instead of {original} ({previous} before), {distance} away, until {time}").format(
            previous=_money(previous_price_cents, currency, locale), time=_until(expires_at, zone_name, locale),
            **values,
        )
    return PushText(
        title=_("Now {discount}: {title} at {shop}").format(
            discount=_discount(discount_pct, locale), title=title, shop=shop_name
        )[:200],
        body=body,
    )


def gone_text(*, title: str, shop_name: str, status: str, translations: Gettext) -> PushText:
    """What replaces the alert on a screen that cannot take a silent update (the web app) once
    the deal cannot be had: sold out, withdrawn by the shop, or over."""
    _ = translations.gettext
    reasons = {
        SOLD_OUT: _("Sold out."),
        CANCELLED: _("Withdrawn by the shop."),
    }
    return PushText(
        title=_("{title} at {shop}: no longer available").format(title=title, shop=shop_name)[:200],
        body=reasons.get(status) or _("The offer has ended."),
    )
