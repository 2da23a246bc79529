"""What alerts earned: the funnel of an offer's alerts (told -> opened -> reserved -> collected),
the distance rings and the posting hours it is broken down by, and what a merchant sees of it.

Every stage counts residents, and each stage only those of the one before: told (an alert about
the offer was sent to them), opened (they opened an alert or a price drop of it), reserved (they
made a reservation of it, whatever became of it), collected (one of their reservations was
collected). A resident who reserved without being told is not something an alert earned.
What a merchant sees of every figure passes through privacy.coarse, keyed by the shop."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable
from zoneinfo import ZoneInfo

from . import privacy

STAGES = ("told", "opened", "reserved", "collected")


@dataclass(frozen=True)
class Ring:
    """Residents told at a distance d (metres) with low <= d < high; high None: no end. (The
    database sorts them into rings: adapters/db/queries/funnel.py builds its CASE from RINGS.)"""

    low: int
    high: int | None

    @property
    def key(self) -> str:
        return f"{self.low}-{self.high}" if self.high is not None else f"{self.low}+"



RINGS = (Ring(0, 250), Ring(250, 500), Ring(500, 1000), Ring(1000, 2000), Ring(2000, None))


def posting_hour(created_at: datetime, zone_name: str) -> int:
    """The hour (0..23) on the shop's clock at which an offer was posted."""
    return created_at.astimezone(ZoneInfo(zone_name)).hour


@dataclass
class Tally:
    """The four stages' counts of residents."""

    told: int = 0
    opened: int = 0
    reserved: int = 0
    collected: int = 0

    def add(self, other: "Tally") -> None:
        for stage in STAGES:
            setattr(self, stage, getattr(self, stage) + getattr(other, stage))

    def as_dict(self) -> dict[str, int]:
        return {stage: getattr(self, stage) for stage in STAGES}


@dataclass(frozen=True)
class Counted:
    """The residents told of one offer in one ring (None: at a distance never worked out)."""

    offer_id: str
    ring: str | None
    tally: Tally


@dataclass
class ShopFunnel:
    """Exact tallies of a shop: per offer (every offer named, told or not), per ring, per
    posting hour (only the hours offers were posted at)."""

    offers: dict[str, Tally] = field(default_factory=dict)
    rings: dict[str, Tally] = field(default_factory=lambda: {ring.key: Tally() for ring in RINGS})
    hours: dict[int, Tally] = field(default_factory=dict)
    offers_per_hour: dict[int, int] = field(default_factory=dict)


def tally(offer_hours: dict[str, int], counted: Iterable[Counted]) -> ShopFunnel:
    """The shop's funnel from its offers (id -> posting hour) and their residents counted per ring."""
    found = ShopFunnel()
    for offer_id, hour in offer_hours.items():
        found.offers[offer_id] = Tally()
        found.hours.setdefault(hour, Tally())
        found.offers_per_hour[hour] = found.offers_per_hour.get(hour, 0) + 1
    for c in counted:
        found.offers[c.offer_id].add(c.tally)
        found.hours[offer_hours[c.offer_id]].add(c.tally)
        if c.ring is not None:
            found.rings[c.ring].add(c.tally)
    return found


def coarse(counts: dict[str, int], secret: bytes, shop_id: str) -> dict[str, int]:
    """What the shop's merchant sees of a tally (each count privacy.coarse; 0: too few to show)."""
    return {stage: privacy.coarse(count, secret, privacy.shop_key(shop_id)) for stage, count in counts.items()}
