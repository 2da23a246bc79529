"""Who may be told about an offer now: quiet hours, daily caps in the resident's own day, and
what the push says."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


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


def _money(cents: int, currency: str) -> str:
    symbol = {"EUR": "€", "GBP": "£", "USD": "$", "CHF": "CHF "}.get(currency, currency + " ")
    return f"{symbol}{cents // 100}.{cents % 100:02d}"


def _pct(discount_pct: float) -> str:
    return f"{discount_pct:.0f}" if abs(discount_pct - round(discount_pct)) < 0.05 else f"{discount_pct:.1f}"


def _distance(metres: float) -> str:
    if metres < 950:
        return f"{int(round(metres / 10.0) * 10)} m"
    return f"{metres / 1000:.1f} km"


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
) -> PushText:
    """What a person reads on the lock screen: the deal, where, how far, until when."""
    until = expires_at.astimezone(ZoneInfo(zone_name)).strftime("%H:%M")
    return PushText(
        title=f"-{_pct(discount_pct)} % {title} at {shop_name}"[:200],
        body=(
            f"{_money(price_cents, currency)} instead of {_money(original_price_cents, currency)}, "
            f"{_distance(distance_m)} away, until {until}"
        ),
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
) -> PushText:
    """What a person reads when a deal they were told about gets cheaper: it replaces the alert
    on the lock screen, so it says all the alert said, the new price first."""
    until = expires_at.astimezone(ZoneInfo(zone_name)).strftime("%H:%M")
    was = f" ({_money(previous_price_cents, currency)} before)" if previous_price_cents is not None else ""
    return PushText(
        title=f"Now -{_pct(discount_pct)} %: {title} at {shop_name}"[:200],
        body=(
            f"{_money(price_cents, currency)} instead of {_money(original_price_cents, currency)}{was}, "
            f"{_distance(distance_m)} away, until {until}"
        ),
    )
