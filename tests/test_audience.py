"""Quiet hours, local days and caps, in the resident's own time zone (pure rules)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dealsvc.domain.audience import daily_cap, local_day, push_text, quiet_until


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "now, start, end, expected",
    [
        # Rome is UTC+1 in November: 23:30 local is inside 22:00-07:00, which ends 06:00 UTC.
        (utc(2026, 11, 22, 22, 30), "22:00", "07:00", utc(2026, 11, 23, 6, 0)),
        # After midnight, still the same night.
        (utc(2026, 11, 23, 3, 0), "22:00", "07:00", utc(2026, 11, 23, 6, 0)),
        # 07:00 local sharp: the quiet period is over.
        (utc(2026, 11, 23, 6, 0), "22:00", "07:00", None),
        # Afternoon: not quiet.
        (utc(2026, 11, 22, 14, 0), "22:00", "07:00", None),
        # A daytime period (13:00-15:00 local).
        (utc(2026, 11, 22, 12, 30), "13:00", "15:00", utc(2026, 11, 22, 14, 0)),
        (utc(2026, 11, 22, 11, 59), "13:00", "15:00", None),
    ],
)
def test_quiet_hours_in_rome(now, start, end, expected):
    assert quiet_until(now, "Europe/Rome", start, end) == expected


def test_quiet_hours_across_the_spring_dst_change():
    # 29 March 2026, Rome jumps from 02:00 to 03:00. A night 22:00-07:00 ends at 07:00 CEST = 05:00 UTC.
    assert quiet_until(utc(2026, 3, 29, 1, 30), "Europe/Rome", "22:00", "07:00") == utc(2026, 3, 29, 5, 0)
    # A period ending at 02:30, a time that does not exist that night, ends when the clock jumps.
    assert quiet_until(utc(2026, 3, 29, 0, 30), "Europe/Rome", "23:00", "02:30") == utc(2026, 3, 29, 1, 30)


def test_no_quiet_hours():
    assert quiet_until(utc(2026, 11, 22, 23, 0), "Europe/Rome", None, None) is None


def test_local_day_is_the_residents_own():
    now = utc(2026, 11, 22, 23, 30)
    assert local_day(now, "UTC") == "2026-11-22"
    assert local_day(now, "Europe/Rome") == "2026-11-23"
    assert local_day(now, "America/New_York") == "2026-11-22"


def test_daily_cap_is_the_stricter_one():
    assert daily_cap(None, 5) == 5
    assert daily_cap(2, 5) == 2
    assert daily_cap(9, 5) == 5


def test_push_text_reads_like_a_person_wrote_it():
    text = push_text(
        title="Pane di ieri",
        shop_name="Forno Rossi",
        discount_pct=50.0,
        price_cents=200,
        original_price_cents=400,
        currency="EUR",
        distance_m=304.0,
        expires_at=utc(2026, 11, 22, 18, 30),
        zone_name="Europe/Rome",
    )
    assert text.title == "-50 % Pane di ieri at Forno Rossi"
    assert text.body == "€2.00 instead of €4.00, 300 m away, until 19:30"
