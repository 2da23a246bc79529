"""Quiet hours, local days and caps, in the resident's own time zone (pure rules)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dealsvc.adapters.catalogues import translations
from dealsvc.domain.audience import daily_cap, local_day, price_drop_text, push_text, quiet_until


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


NBSP, NNBSP = "\u00a0", "\u202f"  # what CLDR puts in "2,00 €" and "7:30 PM"


def _alert(locale: str, zone_name: str = "Europe/Rome", **changes):
    fields = dict(
        title="Pane di ieri",
        shop_name="Forno Rossi",
        discount_pct=50.0,
        price_cents=200,
        original_price_cents=400,
        currency="EUR",
        distance_m=304.0,
        expires_at=utc(2026, 11, 22, 18, 30),
        zone_name=zone_name,
        locale=locale,
        translations=translations(locale),
    )
    fields.update(changes)
    return push_text(**fields)


def test_push_text_reads_like_a_person_wrote_it_in_each_language():
    it = _alert("it")
    assert it.title == "-50% Pane di ieri da Forno Rossi"
    assert it.body == f"2,00{NBSP}€ invece di 4,00{NBSP}€, a 300 m, fino alle 19:30"
    fr = _alert("fr", "Europe/Paris")
    assert fr.title == f"-50{NBSP}% Pane di ieri chez Forno Rossi"
    assert fr.body == f"2,00{NBSP}€ au lieu de 4,00{NBSP}€, à 300{NNBSP}m, jusqu'à 19:30"
    en = _alert("en", "America/New_York")
    assert en.title == "-50% Pane di ieri at Forno Rossi"
    assert en.body == f"€2.00 instead of €4.00, 300 m away, until 1:30{NNBSP}PM"


def test_push_numbers_are_written_the_local_way():
    it = _alert("it", discount_pct=33.333, price_cents=267, original_price_cents=400, distance_m=1249.0)
    assert it.title.startswith("-33,3% ")
    assert it.body == f"2,67{NBSP}€ invece di 4,00{NBSP}€, a 1,2 km, fino alle 19:30"
    en = _alert("en", "Europe/London", discount_pct=33.333, price_cents=267, original_price_cents=400, distance_m=1249.0)
    assert en.body == f"€2.67 instead of €4.00, 1.2 km away, until 6:30{NNBSP}PM"


def test_price_drop_text_in_each_language():
    common = dict(
        title="Pane di ieri", shop_name="Forno Rossi", discount_pct=70.0, price_cents=120,
        original_price_cents=400, previous_price_cents=200, currency="EUR", distance_m=304.0,
        expires_at=utc(2026, 11, 22, 18, 30),
    )
    it = price_drop_text(**common, zone_name="Europe/Rome", locale="it", translations=translations("it"))
    assert it.title == "Ora -70%: Pane di ieri da Forno Rossi"
    assert it.body == f"1,20{NBSP}€ invece di 4,00{NBSP}€ (prima 2,00{NBSP}€), a 300 m, fino alle 19:30"
    fr = price_drop_text(**common, zone_name="Europe/Paris", locale="fr", translations=translations("fr"))
    assert fr.title == f"Maintenant -70{NBSP}% : Pane di ieri chez Forno Rossi"
    assert fr.body == f"1,20{NBSP}€ au lieu de 4,00{NBSP}€ (avant 2,00{NBSP}€), à 300{NNBSP}m, jusqu'à 19:30"
    en = price_drop_text(**{**common, "previous_price_cents": None}, zone_name="UTC", locale="en",
                         translations=translations("en"))
    assert en.title == "Now -70%: Pane di ieri at Forno Rossi"
    assert en.body == f"€1.20 instead of €4.00, 300 m away, until 6:30{NNBSP}PM"


class _Marking:
    """A catalogue that brackets every text it gives: what lies outside the brackets was not
    taken from a catalogue."""

    def gettext(self, message: str) -> str:
        return "[[" + message + "]]"


def test_every_word_of_a_push_comes_from_the_catalogue():
    common = dict(
        title="Pane di ieri", shop_name="Forno Rossi", discount_pct=50.0, price_cents=200,
        original_price_cents=400, currency="EUR", distance_m=304.0, expires_at=utc(2026, 11, 22, 18, 30),
        zone_name="Europe/Rome", locale="it", translations=_Marking(),
    )
    texts = [push_text(**common)]
    texts += [price_drop_text(**common, previous_price_cents=p) for p in (None, 300)]
    for text in texts:
        for part in (text.title, text.body):
            assert part.startswith("[[") and part.endswith("]]"), part
