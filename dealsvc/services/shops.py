"""Shops: a merchant's places, located by coordinates or by a geocoded address."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Protocol

from ..adapters.geocoding import Geocoder, GeocoderDown, GeocodingOff
from ..domain import hours, waves
from ..domain import merchants as merchant_rules
from ..domain import offers as offer_rules
from ..domain.clock import Clock
from ..domain.credentials import new_id
from ..domain.errors import NotFound, Unprocessable, Unavailable
from ..domain.i18n import Text
from .auth import Principal
from .merchants import merchant_standing
from .ports import Transactions
from .rules import RulesService


class ShopQueries(Protocol):
    """What ShopService needs of the database (SQL: the shops queries of the database adapter)."""

    def shop(self, shop_id: str, *, lock: bool = False) -> Any | None: ...
    def shops_of_merchant(self, merchant_id: str) -> list[Any]: ...  # the oldest first
    def count_shops_of_merchant(self, merchant_id: str) -> int: ...
    def add_shop(self, **columns: Any) -> Any: ...
    def lock_merchant_row(self, merchant_id: str) -> None: ...
    # The waves of the shop's offers not planned yet, each with its offer; the fan-outs locked.
    def waiting_waves_of_shop(self, shop_id: str) -> list[tuple[Any, Any]]: ...
    # The pushes of the shop's live offers waiting for it to open, due at `now`; how many.
    def redue_pushes_held_for_opening(self, shop_id: str, now: datetime) -> int: ...


def hours_view(opening_hours: str | None, zone_name: str, now: datetime) -> dict[str, Any]:
    """What the hours say now, as the API shows it: open_now (None: no hours), and when that
    changes (open_until while open, opens_at while closed; None: no change in sight)."""
    seen = hours.outlook(opening_hours, zone_name, now)
    if seen is None:
        return {"open_now": None, "open_until": None, "opens_at": None}
    return {"open_now": seen.open, "open_until": seen.until if seen.open else None,
            "opens_at": None if seen.open else seen.until}


def shop_view(shop, now: datetime) -> dict[str, Any]:
    return {
        "id": shop.id,
        "merchant_id": shop.merchant_id,
        "name": shop.name,
        "category": shop.category,
        "address": shop.address,
        "lat": shop.lat,
        "lon": shop.lon,
        "timezone": shop.timezone,
        "opening_hours": shop.opening_hours,
        **hours_view(shop.opening_hours, shop.timezone, now),
    }


class ShopService:
    def __init__(
        self, store: Transactions[ShopQueries], clock: Clock, geocoder: Geocoder, rules: RulesService,
        zone_at: Callable[[float, float], str],
    ):
        self.store = store
        self.zone_at = zone_at
        self.clock = clock
        self.geocoder = geocoder
        self.rules = rules

    def locate(self, address: str) -> tuple[float, float]:
        """The coordinates of an address, by the geocoder (outside any transaction: it may take a
        second or more). 422 keyed `address` when it cannot be found or looked up here; 503 when
        the geocoder is down."""
        try:
            place = self.geocoder.geocode(address)
        except GeocodingOff:
            raise Unprocessable(
                Text("This instance does not geocode addresses."),
                {"address": [Text("cannot be looked up on this instance; send lat and lon.")]},
            ) from None
        except GeocoderDown:
            raise Unavailable(Text("The address cannot be looked up right now; try again, or send lat and lon."), retry_after=30) from None
        if place is None:
            raise Unprocessable(
                Text("The address could not be found."),
                {"address": [Text("could not be found; check it, or send lat and lon.")]},
            )
        return place.lat, place.lon

    def create(self, merchant: Principal, data: dict[str, Any]) -> dict[str, Any]:
        lat, lon, address = data.get("lat"), data.get("lon"), data.get("address")
        if lat is None:
            # Before the geocoder is asked (its quota is shared): checked again below, for good.
            with self.store.read() as q:
                merchant_rules.check_may_add_shop(merchant_standing(q, merchant.id, hold=False))
            lat, lon = self.locate(address)
        timezone = self.zone_at(lat, lon)
        now = self.clock()
        with self.store.write() as q:
            # The merchant's row locked first (before the shared hold merchant_standing takes, which
            # would otherwise be upgraded and deadlock): two shops added at once cannot both slip
            # under the cap, and a suspension waits for this or is read by it.
            q.lock_merchant_row(merchant.id)
            merchant_rules.check_may_add_shop(merchant_standing(q, merchant.id))
            owned = q.count_shops_of_merchant(merchant.id)
            # Each shop is a place to read figures from (domain/privacy.py): their number is capped.
            self.rules.current(q).check_shop_count(owned)
            shop = q.add_shop(
                id=new_id("shp"),
                merchant_id=merchant.id,
                name=data["name"],
                category=data["category"],
                address=address,
                lat=lat,
                lon=lon,
                timezone=timezone,
                opening_hours=data.get("opening_hours"),
                created_at=now,
                updated_at=now,
            )
        return shop_view(shop, now)

    def get(self, shop_id: str) -> dict[str, Any]:
        with self.store.read() as q:
            shop = q.shop(shop_id)
            if shop is None:
                raise NotFound(Text("No such shop."))
            return shop_view(shop, self.clock())

    def update(self, merchant: Principal, shop_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a shop's opening hours (checked by the schema: domain/hours.problem). The waves
        of its live offers that the old hours held back fall due at once, and so do their pushes
        that wait for the old opening (a price drop or an alert screened while the shop was
        closed) or were given up for it: the dispatcher holds them by the new hours, or sends them
        now if the shop is open."""
        with self.store.write() as q:
            shop = q.shop(shop_id, lock=True)
            if shop is None or shop.merchant_id != merchant.id:
                raise NotFound(Text("No such shop."))
            now = self.clock()
            if "opening_hours" in changes and changes["opening_hours"] != shop.opening_hours:
                before, shop.opening_hours = shop.opening_hours, changes["opening_hours"]
                # Locked, so a wave the dispatcher is holding by the old hours right now is seen
                # once it is held; one it already planned is done, and its notifications are
                # unique per resident: nobody is told twice.
                for fanout, offer in q.waiting_waves_of_shop(shop.id):
                    if (offer_rules.is_live(offer.status, offer.expires_at, now)
                            and waves.held_by(before, shop.timezone, now, offer.expires_at, fanout.due_at)):
                        fanout.due_at = now
                # Their pushes waiting for the old opening too, and those the old hours gave up
                # (closed until the offer's end). Pending or suppressed, so no dispatcher holds
                # them; one a dispatcher is screening by the old hours at this very moment keeps
                # what that claim gives it (a later time, or given up: the one window left, a
                # transaction long). A push is sent once at most, whenever it falls due.
                q.redue_pushes_held_for_opening(shop.id, now)
            shop.updated_at = now
            return shop_view(shop, now)

    def list_for(self, merchant: Principal) -> list[dict[str, Any]]:
        with self.store.read() as q:
            shops = q.shops_of_merchant(merchant.id)
            now = self.clock()
            return [shop_view(x, now) for x in shops]
