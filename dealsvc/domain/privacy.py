"""What a merchant may see of figures derived from residents' positions, and why it cannot locate one.

The threat: every figure that counts "residents whose own radius contains point P" is a
reverse radius query. A merchant who can ask it at points of their choosing, and read it exactly,
finds one resident's circle by a grid search and its edge by bisection, and the centre of the
circle from three edge points: a home to within centimetres. Operators are trusted and see exact
aggregates; residents' own data stays theirs. Merchants see such figures only through this module:

1. **Where** (`snap`). A preview (the reach and the waves planned for an offer not yet posted) is
   counted at the centre of the ~`CELL_M` grid cell that holds the shop, never at the shop itself:
   moving a shop within a cell changes nothing, so there is no edge to bisect, and the only points a
   preview can ever be asked about are cell centres ~1 km apart. Shops cannot be moved at all and a
   merchant holds at most `max_shops_per_merchant` of them (operator rule), only active merchants
   get previews, and only of their own shops.
2. **How much** (`coarse`). Every count a merchant sees (the previews, and an offer's real
   `matched`, `sent`, `failed`, ..., and the residents each wave told) is hidden below a floor
   (`FLOOR` plus a secret 0..`NOISE`-1 per key, so "fewer than `FEW`") and otherwise shown as
   (count + a secret 0..`NOISE`-1 drawn per key *and value*) rounded down to a coarse step
   (10, then 50 from 100, 500 from 1,000, 5,000 from 10,000). The secret is the service's, so:
   - a figure of one resident alone (or a few) is never shown: the grid search finds nothing;
   - where figures do show, two neighbouring points (two shops of one merchant a metre apart,
     on either side of one resident's edge) read counts n and n+1 through independent secret
     offsets: the change of 1 is drowned in a noise of 10, and flips between shops fall where the
     offsets fall, not where an edge is. Bisection has nothing to follow.
   - the offset of a value is fixed (the same figure asked again reads the same), so asking again
     averages nothing out; and because it is drawn per value, learning it for one value (a wave
     whose size the merchant controls by the quantity) tells nothing about another.

Worst case, argued. What a merchant can ask is limited first: previews only at cell centres
(~1 km apart) of cells holding one of its shops, real offers only at its shops; shops cannot move
and number at most `max_shops_per_merchant` a merchant (sign-up is open unless the operator sets
`merchant_approval_required`: then every merchant is vetted). Bisection needs readings at points
arbitrarily close to an edge; previews have none, and real offers have one per shop.
What one reading tells is limited next. A key (cell or shop) answers each count with one fixed
coarse value; one resident moves a count by 1, against a secret offset of 0..9 and a step of 10:
with the other residents' count unknown, a reading says next to nothing of one resident. The
worst case is a merchant who knows every other count exactly (only by planting fake residents
of its own): then a reading proves one resident inside or outside a circle in about one case in
ten (when n and n+1 fall on different sides of a step), and says nothing in the others; asking
again, or from a shop a metre away with its own offsets, gives no second chance at the same
reading. Comparing two categories at one cell (or two offers at one shop) shows at best that the
counts differ, i.e. that someone who wants one category and not the other is within their own
radius of that cell centre or shop: a fact about a ~1 km cell and an unknown radius, not a place.
Locating a home to 1 km from such readings takes the circle's edge from many cells or shops
around it, each a new shop (20 a merchant, never moved) and a reading that works one time in ten;
the acceptance test (tests/integration/test_privacy_attack.py) runs the issue's attack with 1,000 calls and
locates nobody. Not closed here: planting fake residents in bulk around a target costs one
resident sign-up each (rate limited per client; a fake token is deactivated at its first push),
and with many merchants' shops a patient attacker could collect such one-in-ten readings; the
operator's `merchant_approval_required` closes the many-merchants part.
"""
from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Iterable

CELL_M = 1000.0  # a preview is counted at the centre of a cell about this wide
FLOOR = 10  # no count below this is ever shown (to a merchant; nor a cell of the operator's density map)
NOISE = 10  # secret offsets are drawn from 0..NOISE-1
FEW = FLOOR + NOISE  # "fewer than FEW": what a hidden figure may hide

_M_PER_DEG_LAT = 111_320.0
_LAT_STEP = CELL_M / _M_PER_DEG_LAT


@dataclass(frozen=True)
class Cell:
    """One cell of the grid: its name, centre and edges (degrees)."""

    name: str
    lat: float
    lon: float
    south: float
    west: float
    north: float
    east: float


def _lon_step(row: int) -> float:
    """The width in longitude of the cells of a row (wider towards the poles: about CELL_M on the ground)."""
    centre_lat = max(-89.99, min(89.99, (row + 0.5) * _LAT_STEP))
    return min(360.0, _LAT_STEP / max(math.cos(math.radians(centre_lat)), 1e-3))


def _cell_at(row: int, col: int, lon_step: float) -> Cell:
    centre_lat = max(-89.99, min(89.99, (row + 0.5) * _LAT_STEP))
    west = -180.0 + col * lon_step
    centre_lon = -180.0 + (col + 0.5) * lon_step
    if centre_lon > 180.0:
        centre_lon -= 360.0
        west -= 360.0
    return Cell(f"{row}:{col}", centre_lat, centre_lon, row * _LAT_STEP, west, (row + 1) * _LAT_STEP, west + lon_step)


def cell(lat: float, lon: float) -> Cell:
    """The grid cell holding (lat, lon). Cells are CELL_M tall and about CELL_M wide (the
    longitude step widens with the latitude of the cell's row)."""
    row = math.floor(lat / _LAT_STEP)
    lon_step = _lon_step(row)
    return _cell_at(row, math.floor((lon + 180.0) / lon_step), lon_step)


def snap(lat: float, lon: float) -> tuple[str, float, float]:
    """The grid cell holding (lat, lon): its name and its centre."""
    c = cell(lat, lon)
    return c.name, c.lat, c.lon


def density(places: Iterable[tuple[object, float, float]]) -> list[tuple[Cell, int]]:
    """Residents counted per grid cell, for the operator's map: `places` are (resident, lat, lon),
    a resident with several places in one cell counted once there. A cell with fewer than FLOOR
    residents is left out (not shown as zero): the map never shows where one resident, or a few,
    can be told apart, and gives no resident's own coordinates, only the cells'."""
    steps: dict[int, float] = {}
    members: dict[tuple[int, int], set] = {}
    for resident, lat, lon in places:  # the cell as in cell(), without building one per place
        row = math.floor(lat / _LAT_STEP)
        step = steps.get(row)
        if step is None:
            step = steps[row] = _lon_step(row)
        key = (row, math.floor((lon + 180.0) / step))
        who = members.get(key)
        if who is None:
            who = members[key] = set()
        who.add(resident)
    return [(_cell_at(row, col, steps[row]), len(who)) for (row, col), who in sorted(members.items()) if len(who) >= FLOOR]


def _draw(secret: bytes, *parts: object) -> int:
    digest = hmac.new(secret, "|".join(map(str, parts)).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % NOISE


def _step(value: int) -> int:
    return 10 if value < 100 else 50 if value < 1000 else 500 if value < 10_000 else 5000


def shop_key(shop_id: str) -> str:
    """The key of every count about a shop's offers (their stats, waves and funnel)."""
    return f"shop:{shop_id}"


def coarse(count: int, secret: bytes, key: str) -> int:
    """What a merchant sees of `count` (0: fewer than FEW). `key` names where the count belongs
    (a cell, a shop): the same key and count always read the same."""
    if count < FLOOR + _draw(secret, key, "floor"):
        return 0
    value = count + _draw(secret, key, count)
    return value // _step(value) * _step(value)

