"""Residents' places beyond the main one: on which days and in which hours a place counts."""
from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = (1 << len(DAY_NAMES)) - 1
# The main place (lat/lon/radius_m of API.md) and up to two more: home, work, a parent's.
MAX_PLACES = 3
MAX_EXTRA_PLACES = MAX_PLACES - 1


def days_mask(names: list[str] | None) -> int:
    """The stored bit mask of day names (bit 0 Monday); none given: every day."""
    if not names:
        return ALL_DAYS
    mask = 0
    for name in names:
        mask |= 1 << DAY_NAMES.index(name)
    return mask


def day_names(mask: int) -> list[str]:
    return [name for i, name in enumerate(DAY_NAMES) if mask & (1 << i)]


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def counts_at(now: datetime, zone_name: str, days: int, start: str | None, end: str | None) -> bool:
    """Whether a place counts at `now`, read on the resident's own clock.

    Hours from `start` (included) to `end` (excluded); a period with start > end runs past
    midnight ("22:00"–"02:00") and belongs to the day it starts on. No hours: the whole of
    each listed day.
    """
    local = now.astimezone(ZoneInfo(zone_name))
    weekday = local.weekday()
    on = lambda day: bool(days & (1 << (day % 7)))  # noqa: E731
    if not start or not end:
        return on(weekday)
    s, e, t = _hhmm(start), _hhmm(end), local.time().replace(tzinfo=None)
    if s < e:
        return on(weekday) and s <= t < e
    # Overnight: the evening part on a listed day, the early part on the day after one.
    return (on(weekday) and t >= s) or (on(weekday - 1) and t < e)


def _minutes(text: str | None) -> int:
    if not text:
        return -1
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def open_many(weekday: int, minute: int, days, start, end):
    """`counts_at` for many places of one timezone at once (numpy arrays): `weekday` (0 Monday)
    and `minute` (of the day) are the local time there; `start` and `end` are minutes of the
    day, -1 for no hours. The same answers as `counts_at`, without a call per place."""
    import numpy as np

    today = (days >> weekday) & 1 == 1
    yesterday = (days >> ((weekday - 1) % 7)) & 1 == 1
    all_day = start < 0
    daytime = (start < end) & (start <= minute) & (minute < end)
    overnight = (start > end) & ((today & (minute >= start)) | (yesterday & (minute < end)))
    return np.where(all_day, today, np.where(start < end, today & daytime, overnight))


def minutes_of(start: str | None, end: str | None) -> tuple[int, int]:
    """Stored hours as minutes of the day for `open_many` (-1, -1: no hours)."""
    return _minutes(start), _minutes(end)


def local_weekday_minute(now: datetime, zone_name: str) -> tuple[int, int]:
    local = now.astimezone(ZoneInfo(zone_name))
    return local.weekday(), local.hour * 60 + local.minute
