"""Residents' devices: registration, their own settings, and how many of them a point reaches."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Protocol

from ..domain.clock import Clock
from ..domain.credentials import SUBSCRIBER_PREFIX, hash_secret, new_id, new_secret
from ..domain.errors import NotFound, RuleViolation
from ..domain.i18n import Text
from ..domain.locales import best_match
from ..domain.places import day_names, days_mask
from ..domain.outbox import PushKind
from ..domain.rules import Rules
from .auth import Principal
from .ports import Transactions
from .reservations import reservation_view
from .rules import RulesService


def subscriber_view(sub) -> dict[str, Any]:
    """The subscriber's own view: the only one that ever holds their coordinates."""
    return {
        "id": sub.id,
        "lat": sub.lat,
        "lon": sub.lon,
        "radius_m": sub.radius_m,
        "categories": list(sub.categories or []),
        "quiet_hours": {"start": sub.quiet_start, "end": sub.quiet_end} if sub.quiet_start else None,
        "timezone": sub.timezone,
        "locale": sub.locale,
        "max_per_day": sub.max_per_day,
        "places": [_place_view(place) for place in sub.places],
        "price_drops": sub.price_drops,
        "active": sub.active,
        "created_at": sub.created_at,
        "privacy_notice": (
            {"version": sub.privacy_notice_version, "accepted_at": sub.privacy_accepted_at}
            if sub.privacy_notice_version else None
        ),
    }


def _place_view(place) -> dict[str, Any]:
    return {
        "label": place.label,
        "lat": place.lat,
        "lon": place.lon,
        "radius_m": place.radius_m,
        "days": day_names(place.days),
        "hours": {"start": place.hours_start, "end": place.hours_end} if place.hours_start else None,
    }


class SubscriberLookup(Protocol):
    def live_subscriber(self, subscriber_id: str, *, lock: bool = False) -> Any | None: ...


class Forgetting(Protocol):
    """What forget() needs of the database (SQL: db/queries/subscribers.py)."""

    def replace_places(self, sub: Any, places: list[dict[str, Any]]) -> None: ...
    def remove_favorites_of(self, subscriber_pk: int) -> None: ...


class SubscriberQueries(SubscriberLookup, Forgetting, Protocol):
    """What SubscriberService needs of the database (SQL: db/queries/subscribers.py,
    reservations.py, favorites.py)."""

    def add_subscriber(self, **columns: Any) -> Any: ...
    def deactivate_token_holders(self, fcm_token: str, now: datetime, *, except_pk: int | None = None) -> None: ...
    def favorites_of(self, subscriber_pk: int) -> list[tuple[Any, Any]]: ...
    def reservations_of_subscriber(self, subscriber_pk: int) -> list[tuple[Any, Any]]: ...
    def alerts_sent_to(self, subscriber_pk: int) -> list[tuple[Any, str, str]]: ...


def own_subscriber(q: SubscriberLookup, principal: Principal, subscriber_id: str, *, lock: bool = False):
    """The caller's own live subscription; anyone else's reads exactly like a missing one."""
    if principal.id != subscriber_id:
        raise NotFound(Text("No such subscriber."))
    sub = q.live_subscriber(subscriber_id, lock=lock)
    if sub is None:
        raise NotFound(Text("No such subscriber."))
    return sub


def _check_radii(rules: Rules, data: dict[str, Any]) -> None:
    """Every radius sent, held to max_radius_m at once, so one 422 names all that are too far."""
    radii = {"radius_m": data.get("radius_m")}
    for i, place in enumerate(data.get("places") or []):
        radii[f"places.{i}.radius_m"] = place.get("radius_m")
    problems: dict[str, list[str]] = {}
    detail = ""
    for name, radius in radii.items():
        if radius is None:
            continue
        try:
            rules.check_radius(radius, name)
        except RuleViolation as violation:
            detail = violation.detail
            problems.update(violation.errors or {})
    if problems:
        raise RuleViolation(detail, problems)


def _places(entries: list[dict[str, Any]], default_radius_m: int) -> list[dict[str, Any]]:
    """The places' columns, in the order sent."""
    places = []
    for entry in entries:
        hours = entry.get("hours")
        radius = entry.get("radius_m")
        places.append({
            "label": entry["label"],
            "lat": entry["lat"],
            "lon": entry["lon"],
            "radius_m": default_radius_m if radius is None else radius,
            "days": days_mask(entry.get("days")),
            "hours_start": hours["start"] if hours else None,
            "hours_end": hours["end"] if hours else None,
        })
    return places


def _apply(sub, data: dict[str, Any], zone_at: Callable[[float, float], str], now) -> None:
    if "fcm_token" in data:
        # The app presented its token (a new one or the same again): it is alive.
        sub.token_seen_at = now
    if data.get("privacy_notice_version"):
        sub.privacy_notice_version = data["privacy_notice_version"]
        sub.privacy_accepted_at = now
    for name in ("fcm_token", "lat", "lon", "radius_m", "timezone", "locale", "max_per_day", "price_drops"):
        if name in data:
            setattr(sub, name, data[name])
    # A timezone the resident sent is theirs and stays through moves; until they send one (or
    # after they send null), it is the zone of their main place, found again whenever that moves.
    if "timezone" in data:
        sub.timezone_auto = data["timezone"] is None
    if sub.timezone_auto and ("lat" in data or sub.timezone is None):
        sub.timezone = zone_at(sub.lat, sub.lon)
    if "categories" in data:
        sub.categories = sorted(set(data["categories"] or []))
    if "quiet_hours" in data:
        quiet = data["quiet_hours"]
        sub.quiet_start, sub.quiet_end = (quiet["start"], quiet["end"]) if quiet else (None, None)


class SubscriberService:
    def __init__(
        self, store: Transactions[SubscriberQueries], clock: Clock, rules: RulesService,
        zone_at: Callable[[float, float], str], default_locale: str,
    ):
        self.store = store
        self.clock = clock
        self.rules = rules
        self.zone_at = zone_at
        self.default_locale = default_locale

    def register(self, data: dict[str, Any], accept_language: str | None = None) -> dict[str, Any]:
        """`accept_language`: the request's header, which picks the locale when none is sent."""
        if "locale" not in data:
            data = {**data, "locale": best_match(accept_language, self.default_locale)}
        now = self.clock()
        secret = new_secret(SUBSCRIBER_PREFIX)
        with self.store.write() as q:
            rules = self.rules.current(q)
            radius = data.get("radius_m")
            if radius is None:
                radius = rules.default_radius_m
            _check_radii(rules, {**data, "radius_m": radius})
            # One phone, one subscription: a token registered again (app reinstalled, data
            # cleared) retires the older registration, so the phone never gets a push twice.
            q.deactivate_token_holders(data["fcm_token"], now)
            sub = q.add_subscriber(
                id=new_id("sub"),
                secret_hash=hash_secret(secret),
                categories=[],
                timezone=None,
                timezone_auto=True,
                max_per_day=None,
                price_drops=False,
                active=True,
                created_at=now,
                updated_at=now,
            )
            _apply(sub, {**data, "radius_m": radius}, self.zone_at, now)
            q.replace_places(sub, _places(data.get("places") or [], rules.default_radius_m))
            return {**subscriber_view(sub), "secret": secret}

    def get(self, principal: Principal, subscriber_id: str) -> dict[str, Any]:
        with self.store.read() as q:
            return subscriber_view(own_subscriber(q, principal, subscriber_id))

    def update(self, principal: Principal, subscriber_id: str, data: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        with self.store.write() as q:
            sub = own_subscriber(q, principal, subscriber_id, lock=True)
            rules = self.rules.current(q)
            _check_radii(rules, data)
            if "fcm_token" in data and data["fcm_token"] != sub.fcm_token:
                q.deactivate_token_holders(data["fcm_token"], now, except_pk=sub.pk)
                # A fresh token is a working phone again.
                sub.active = True
                sub.deactivated_at = None
            _apply(sub, {k: v for k, v in data.items() if not (k == "radius_m" and v is None)}, self.zone_at, now)
            if "places" in data:
                q.replace_places(sub, _places(data["places"], rules.default_radius_m))
            # Always, places included: the geo index reads the rows whose updated_at moved.
            sub.updated_at = now
            return subscriber_view(sub)

    def delete(self, principal: Principal, subscriber_id: str) -> None:
        """Unsubscribe: the places, favourite shops, token and secret are wiped at once; the row
        stays (emptied) so the geo index and the shops' statistics see that the resident left."""
        now = self.clock()
        with self.store.write() as q:
            sub = own_subscriber(q, principal, subscriber_id, lock=True)
            sub.deleted_at = now
            sub.updated_at = now
            sub.secret_hash = hash_secret(new_secret(SUBSCRIBER_PREFIX))
            forget(q, sub)

    def export(self, principal: Principal, subscriber_id: str) -> dict[str, Any]:
        """Everything held about the caller (GDPR art. 15 and 20): the subscription with its
        places and consent, the shops followed, the reservations and the alerts sent (alerts
        past the retention period are no longer linked to anyone, so they are not in it)."""
        from .favorites import favorites_of  # favorites.py imports this module

        now = self.clock()
        with self.store.read() as q:
            sub = own_subscriber(q, principal, subscriber_id)
            return {
                "exported_at": now,
                "subscriber": {
                    **subscriber_view(sub),
                    "token": {"fcm_token": sub.fcm_token, "seen_at": sub.token_seen_at},
                    "updated_at": sub.updated_at,
                    "deactivated_at": sub.deactivated_at,
                },
                "favorites": favorites_of(q, sub.pk),
                "reservations": [reservation_view(r, offer, now) for r, offer in q.reservations_of_subscriber(sub.pk)],
                "alerts": [
                    {
                        "notification_id": str(n.id),
                        "offer_id": n.offer_id,
                        "offer_title": title,
                        "shop_id": shop_id,
                        "kind": "alert" if n.kind == PushKind.OFFER else n.kind,
                        "status": n.status,
                        "reason": n.reason,
                        "distance_m": n.distance_m,
                        "created_at": n.created_at,
                        "sent_at": n.sent_at,
                        "opened_at": n.opened_at,
                    }
                    for n, title, shop_id in q.alerts_sent_to(sub.pk)
                ],
            }


def forget(q: Forgetting, sub) -> None:
    """Wipe a resident's personal data, keeping the (emptied) row: the geo index and the
    shops' statistics see that they are gone. Leaving does it at once; the retention job
    does it to residents deactivated long enough ago."""
    q.replace_places(sub, [])
    q.remove_favorites_of(sub.pk)
    sub.price_drops = False
    sub.active = False
    sub.fcm_token = ""
    sub.token_seen_at = None
    sub.lat = sub.lon = 0.0
    sub.radius_m = 1
    sub.categories = []
    sub.quiet_start = sub.quiet_end = None
    sub.max_per_day = None
