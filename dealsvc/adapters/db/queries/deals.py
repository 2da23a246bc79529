"""The deals listing's hot read: the live offers of the shops the shop index found near a point,
ranked. On a Core connection without an ORM session (Database.read_statements)."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, select, text

from ....domain import geo
from ....domain import offers as offer_rules
from ..models import Offer, UTCDateTime
from .rules import RuleQueries

if TYPE_CHECKING:
    from ...spatial import NearShops

# What the listing shows of an offer, in the order of services/offers.offer_fields' arguments
# (the listing reads the rows as tuples).
_OFFER_COLUMNS = (
    Offer.id,
    Offer.shop_id,
    Offer.title,
    Offer.description,
    Offer.category,
    Offer.original_price_cents,
    Offer.price_cents,
    Offer.discount_pct,
    Offer.currency,
    Offer.quantity,
    Offer.quantity_left,
    Offer.expires_at,
    Offer.status,
    Offer.image_url,
    Offer.photo,
    Offer.thumbnail,
    Offer.created_at,
    Offer.price_steps,
    Offer.price_step,
    Offer.next_step_at,
)


# The same on PostgreSQL, ranked and cut by the database: only the rows shown come back. The
# shops and their distances go in as two comma-separated lists (one statement text whatever
# their number, so psycopg prepares it once per connection; and joined in C, where psycopg's
# array dumper took 4 % of the request); repr() of a float reads back as the same float8. Shop
# ids hold no commas (new_id). "C" orders ids by code point, as Python does.
_RANKED_PG = (
    text(
        f"""
SELECT {", ".join(f"offers.{column.key}" for column in _OFFER_COLUMNS)}
FROM unnest(string_to_array(:shop_ids, ','), CAST(string_to_array(:distances, ',') AS float8[]))
     AS near (shop_id, d)
JOIN offers ON offers.shop_id = near.shop_id
WHERE offers.status = :active AND offers.expires_at > :now
  AND (CAST(:category AS varchar) IS NULL OR offers.category = :category)
ORDER BY near.d, offers.expires_at, offers.id COLLATE "C"
LIMIT :want
"""
    )
    .bindparams(bindparam("now", type_=UTCDateTime()))
    .columns(*_OFFER_COLUMNS)
)


class DealQueries:
    """Reads on a connection of Database.read_statements (no ORM session)."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.is_pg = connection.dialect.name == "postgresql"

    def stored_rules(self):
        """The rules in force (RuleQueries reads them as a plain column, on a connection too)."""
        return RuleQueries(self.connection).stored_rules()

    def ranked_live_offers(self, near: NearShops, start: int, stop: int, lat: float, lon: float, now: datetime,
                           category: str | None, want: int) -> list:
        """The first `want` live offers of near.shops[start:stop] (rows of _OFFER_COLUMNS), ranked:
        the nearest shop first (by geo.approx_m), then the soonest to expire, then by id."""
        if self.is_pg:
            return self._ranked_pg(near, start, stop, lat, lon, now, category, want)
        rank = {shop[0]: geo.approx_m(lat, lon, shop[1], shop[2]) for shop in near.shops[start:stop]}
        shop_ids = list(rank)
        rows: list = []
        # SQLite takes at most 32,766 bound values in a statement.
        for chunk in range(0, len(shop_ids), 10_000):
            q = select(*_OFFER_COLUMNS).where(
                Offer.shop_id.in_(shop_ids[chunk : chunk + 10_000]),
                Offer.status == offer_rules.ACTIVE,
                Offer.expires_at > now,
            )
            if category:
                q = q.where(Offer.category == category)
            rows += self.connection.execute(q).all()
        rows.sort(key=lambda r: (rank[r.shop_id], r.expires_at, r.id))
        return rows[:want]

    def _ranked_pg(self, near: NearShops, start: int, stop: int, lat, lon, now, category, want: int) -> list:
        batch = near.shops[start:stop]
        if near.near_ties(start, stop):
            distances = [geo.approx_m(lat, lon, shop[1], shop[2]) for shop in batch]
        else:
            # The index's distances order these shops as geo.approx_m would: they differ from it
            # in the last bits only, and no two shops here (but those at one place) are that close.
            distances = near.distances[start:stop].tolist()
        return self.connection.execute(
            _RANKED_PG,
            {
                "shop_ids": ",".join([shop[0] for shop in batch]),
                "distances": ",".join(map(repr, distances)),
                "active": offer_rules.ACTIVE,
                "now": now,
                "category": category,
                "want": want,
            },
        ).all()

