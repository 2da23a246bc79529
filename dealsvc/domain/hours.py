"""A shop's opening hours, in OpenStreetMap's `opening_hours` syntax ("Mo-Sa 07:00-19:30; Su off"),
read on the shop's clock: whether it is open, when it closes or opens next, and an offer's end
capped to closing time.

No hours (None) means unknown, and unknown counts as open: a shop without hours is never held
back. A stretch the expression itself marks `unknown` counts as open too; only `closed`/`off`
holds an alert back or caps an offer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

from opening_hours import OpeningHours, ParserError, State, UnknownCountryError

from .errors import Unprocessable
from .i18n import LocalTime, Text

MAX_LENGTH = 255
EXAMPLE = "Mo-Sa 07:00-19:30; Su off"
# How far ahead the hours are read: past a week every weekly pattern has repeated.
HORIZON = timedelta(days=8)

_POSITION = re.compile(r"-->\s*\d+:(\d+)")


def problem(expression: str) -> Text | None:
    """None when `expression` is valid opening hours; else what is wrong, for the person who typed it."""
    if len(expression) > MAX_LENGTH:
        return Text("must be at most {max} characters.", max=MAX_LENGTH)
    try:
        OpeningHours(expression)
    except (ParserError, ValueError) as error:
        found = _POSITION.search(str(error))
        column = int(found.group(1)) if found else 1
        return Text(
            "is not in OpenStreetMap's opening_hours format (like “{example}”): look near character {column}.",
            example=EXAMPLE, column=column,
        )
    return None


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    """IANA zone -> ISO 3166 country, from the zone table tzdata ships with the zones themselves:
    the country whose public holidays `PH` means (Europe/Rome: IT). The library could find it from
    coordinates, but at about a second a shop."""
    try:
        table = (resources.files("tzdata.zoneinfo") / "zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, OSError):
        return {}
    rows = (line.split("\t") for line in table.splitlines() if line and not line.startswith("#"))
    return {row[2]: row[0] for row in rows if len(row) >= 3}


@lru_cache(maxsize=4096)
def _parsed(expression: str, zone_name: str) -> OpeningHours:
    # Parsed once per shop and zone (45 µs a time, on every push otherwise).
    zone, country = ZoneInfo(zone_name), _countries().get(zone_name)
    if country:
        try:
            return OpeningHours(expression, timezone=zone, country=country)
        except UnknownCountryError:
            pass  # a country without a holiday calendar: PH never matches
    return OpeningHours(expression, timezone=zone)


def _closed(oh: OpeningHours, local: datetime) -> bool:
    return oh.state(local)[0] == State.CLOSED


def _next_where(oh: OpeningHours, local: datetime, closed: bool) -> datetime | None:
    """The first change after `local` into a closed (or not closed) state, within HORIZON."""
    until, at = local + HORIZON, local
    while True:
        at = oh.next_change(at)
        if at is None or at > until:
            return None
        if _closed(oh, at) == closed:
            return at.astimezone(timezone.utc)


def is_closed(expression: str | None, zone_name: str, at: datetime) -> bool:
    seen = outlook(expression, zone_name, at)
    return seen is not None and not seen.open


def open_until(expression: str | None, zone_name: str, at: datetime) -> datetime | None:
    """When the shop, open at `at`, closes next (UTC); None when it is closed, has no hours, or
    does not close within HORIZON."""
    seen = outlook(expression, zone_name, at)
    return seen.until if seen is not None and seen.open else None


def opens_at(expression: str | None, zone_name: str, at: datetime) -> datetime | None:
    """When the shop, closed at `at`, opens next (UTC); `at` itself when it is open; None when it
    does not open within HORIZON."""
    seen = outlook(expression, zone_name, at)
    return at if seen is None or seen.open else seen.until


@dataclass(frozen=True)
class Outlook:
    """What the hours say at one instant: open until `until`, or closed until `until` (None: no
    change in sight)."""

    open: bool
    until: datetime | None


# The last outlook of each expression, with the instants it holds for: the state does not change
# until `until`, so one reading serves every push of a wave and every deals listing until then
# (a reading costs about 45 µs, in the library; a look-up about 3 µs).
_SEEN: dict[tuple[str, str], tuple[datetime, datetime, Outlook]] = {}
_SEEN_MAX = 4096
_SEEN_AT_MOST = timedelta(hours=1)  # when no change is in sight, read again now and then


def outlook(expression: str | None, zone_name: str, at: datetime) -> Outlook | None:
    """None for a shop without hours (unknown, never held back)."""
    if not expression:
        return None
    key = (expression, zone_name)
    seen = _SEEN.get(key)
    if seen is not None and seen[0] <= at < seen[1]:
        return seen[2]
    try:
        oh = _parsed(expression, zone_name)
    except (ParserError, ValueError):
        return None  # stored before a stricter parser: unknown rather than a failing dispatcher
    local = at.astimezone(ZoneInfo(zone_name))
    closed = _closed(oh, local)
    found = Outlook(not closed, _next_where(oh, local, closed=not closed))
    if len(_SEEN) >= _SEEN_MAX:
        _SEEN.clear()
    _SEEN[key] = (at, min(found.until, at + _SEEN_AT_MOST) if found.until else at + _SEEN_AT_MOST, found)
    return found


def told_between(expression: str | None, zone_name: str, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The opening an offer posted at `now` is told in, (from, to): the one the shop is in, or
    the next one while it is closed; None for what is not in sight (no hours: (now, None))."""
    start = opens_at(expression, zone_name, now)
    if start is None:
        return None, None
    return start, open_until(expression, zone_name, start)


@dataclass(frozen=True)
class Capped:
    expires_at: datetime  # the end to keep
    capped: bool  # cut to closing time
    closes_at: datetime | None  # when the shop closes during the offer, if it does


def cap_expiry(expression: str | None, zone_name: str, now: datetime, expires_at: datetime, *, keep: bool = False) -> Capped:
    """An offer's end, cut to the closing time of the opening it is told in: the one it starts
    in, or, posted while the shop is closed, the next one (its alert waits until then). `keep`:
    the shopkeeper insists on their own time (the hours may be out of date)."""
    start, closes = told_between(expression, zone_name, now)
    if start is None or start >= expires_at:
        return Capped(expires_at, False, None)  # closed for all of it: nothing to cut to
    if closes is None or closes >= expires_at:
        return Capped(expires_at, False, closes)
    return Capped(expires_at if keep else closes, not keep, closes)


def check_long_enough(cut: Capped, zone_name: str, now: datetime, min_lifetime_s: int) -> None:
    """An offer cut to closing time still runs the operator's minimum lifetime, or the
    shopkeeper is told when the shop closes (and how to keep their time)."""
    if cut.capped and cut.expires_at < now + timedelta(seconds=min_lifetime_s):
        closes = LocalTime(cut.expires_at, zone_name)
        raise Unprocessable(
            Text("The shop closes at {time}: too soon for an offer.", time=closes),
            {"expires_at": [Text("the shop closes at {time}, too soon for an offer; to post it anyway, keep your time (beyond_closing).", time=closes)]},
        )
