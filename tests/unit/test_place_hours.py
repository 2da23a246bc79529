"""When a resident's extra place counts: the rule on the resident's clock, and its vectorized
form (used by the geo index for thousands of places at once) giving the same answers."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from dealsvc.domain import places

WEEKDAYS = places.days_mask(["mon", "tue", "wed", "thu", "fri"])


def rome(text: str) -> datetime:
    return datetime.fromisoformat(text + "+01:00")


@pytest.mark.parametrize(
    "moment, days, start, end, expected",
    [
        ("2026-11-23T12:30:00", WEEKDAYS, "11:00", "15:00", True),  # Monday lunch
        ("2026-11-23T11:00:00", WEEKDAYS, "11:00", "15:00", True),  # from the start, included
        ("2026-11-23T15:00:00", WEEKDAYS, "11:00", "15:00", False),  # to the end, excluded
        ("2026-11-23T10:59:59", WEEKDAYS, "11:00", "15:00", False),
        ("2026-11-28T12:30:00", WEEKDAYS, "11:00", "15:00", False),  # Saturday
        ("2026-11-28T12:30:00", places.ALL_DAYS, None, None, True),  # no hours: every day, all day
        ("2026-11-27T23:30:00", WEEKDAYS, "22:00", "02:00", True),  # Friday night
        ("2026-11-28T01:30:00", WEEKDAYS, "22:00", "02:00", True),  # ...past midnight: Friday's period
        ("2026-11-28T23:30:00", WEEKDAYS, "22:00", "02:00", False),  # Saturday night is not listed
        ("2026-11-24T01:30:00", places.days_mask(["sun"]), "22:00", "02:00", False),  # Tuesday 01:30
        ("2026-11-23T01:30:00", places.days_mask(["sun"]), "22:00", "02:00", True),  # Sunday's night, Monday 01:30
    ],
)
def test_a_place_counts_on_its_days_within_its_hours(moment, days, start, end, expected):
    assert places.counts_at(rome(moment), "Europe/Rome", days, start, end) is expected


def test_hours_are_read_on_the_residents_own_clock():
    # 12:30 in Rome is 06:30 in New York: a New Yorker's 11:00-15:00 place does not count.
    at = rome("2026-11-23T12:30:00")
    assert places.counts_at(at, "Europe/Rome", WEEKDAYS, "11:00", "15:00")
    assert not places.counts_at(at, "America/New_York", WEEKDAYS, "11:00", "15:00")


def test_the_vectorized_rule_gives_the_same_answers():
    rng = random.Random(4)
    hours = [(None, None), ("09:00", "17:00"), ("22:00", "02:00"), ("00:00", "23:59"), ("11:30", "11:45")]
    zones = ["Europe/Rome", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]
    for _ in range(200):
        at = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=rng.randint(0, 365 * 24 * 60))
        zone = rng.choice(zones)
        rows = [(rng.randint(1, places.ALL_DAYS), *rng.choice(hours)) for _ in range(20)]
        weekday, minute = places.local_weekday_minute(at, zone)
        minutes = [places.minutes_of(s, e) for _, s, e in rows]
        got = places.open_many(
            weekday, minute, np.array([d for d, _, _ in rows]), np.array([m[0] for m in minutes]),
            np.array([m[1] for m in minutes]),
        )
        want = [places.counts_at(at, zone, d, s, e) for d, s, e in rows]
        assert got.tolist() == want, (at, zone)


def test_day_names_round_trip():
    assert places.day_names(places.days_mask(["fri", "mon"])) == ["mon", "fri"]
    assert places.days_mask(None) == places.ALL_DAYS
