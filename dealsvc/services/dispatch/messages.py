"""What a push says: the alert, the price drop that replaces it, the withdrawal."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from ...adapters.catalogues import translations
from ...adapters.push import PushMessage
from ...domain import audience, delivery, hours
from ...domain import offers as offer_rules
from ...domain.outbox import price_step

WITHDRAWAL_MIN_TTL = timedelta(hours=1)
_ALERT_URGENCY = delivery.urgency(delivery.ALERT)
_PRICE_DROP_URGENCY = delivery.urgency(delivery.PRICE_DROP)
_WITHDRAWAL_URGENCY = delivery.urgency(delivery.WITHDRAWAL)


def withdrawal_ends(row) -> datetime:
    """A withdrawal is useful while a phone that was offline may still show the alert: until
    the offer would have expired, and at least an hour after the withdrawal."""
    return max(row.created_at + WITHDRAWAL_MIN_TTL, row.expires_at)


class Messages:
    """Builds the push of a claimed row (the notification with what its push needs)."""

    def __init__(self, public_url: str | None):
        self.public_url = public_url

    def at(self, now: datetime) -> "ClaimMessages":
        """The builder of one claim's pushes, all built at `now`."""
        return ClaimMessages(self.public_url, now)


@dataclass(frozen=True)
class _OfferPart:
    """What every alert about one offer says alike at one instant (its data but the resident's,
    its key, TTL and links), and the wordings already written for it, by what they depend on."""

    data: dict[str, str]
    place: dict[str, str]
    closes_at: datetime | None
    collapse_key: str
    ttl_s: int
    expires_at_unix: int
    link: str | None
    image: str | None
    wordings: dict = dataclasses.field(default_factory=dict)


class ClaimMessages:
    """The pushes of one claim, built at one instant. A claim's rows about one offer carry the
    same offer and shop (read once for the batch), so what the offer alone decides (its opening
    hours read at `now`, its data, key, TTL, link, photo) is worked out once per offer, and each
    wording once per language, clock and distance as shown: the per-push work is what differs
    from one resident to the next."""

    def __init__(self, public_url: str | None, now: datetime):
        self.public_url = public_url
        self.now = now
        self._offers: dict[str, _OfferPart] = {}

    def _offer(self, row) -> _OfferPart:
        part = self._offers.get(row.offer_id)
        if part is None:
            now, expires = self.now, row.expires_at
            part = self._offers[row.offer_id] = _OfferPart(
                data={
                    "offer_id": row.offer_id,
                    "shop_id": row.shop_id,
                    "shop_name": row.shop_name,
                    "title": row.title,
                    "price_cents": str(row.price_cents),
                    "original_price_cents": str(row.original_price_cents),
                    "discount_pct": f"{row.discount_pct:g}",
                    "currency": row.currency,
                    "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
                place={"lat": f"{row.shop_lat:.6f}", "lon": f"{row.shop_lon:.6f}"},
                closes_at=hours.open_until(row.shop_hours, row.shop_timezone, now),
                collapse_key=delivery.collapse_key(row.offer_id),
                ttl_s=delivery.ttl_s(expires, now),
                expires_at_unix=math.floor(expires.timestamp()),
                link=delivery.offer_link(self.public_url, row.offer_id),
                image=delivery.offer_image(self.public_url, row.photo),
            )
        return part

    def alert(self, row, distance: float) -> PushMessage:
        """The alert for one claimed row (the notification joined to its offer, shop and
        resident)."""
        part = self._offer(row)
        locale, zone = row.locale, row.timezone
        # The wording depends on the distance only as it is written (to 10 m, or 0.1 km).
        key = (locale, zone, audience.distance_text(distance, locale))
        wording = part.wordings.get(key)
        if wording is None:
            wording = part.wordings[key] = audience.push_text(
                title=row.title,
                shop_name=row.shop_name,
                discount_pct=row.discount_pct,
                price_cents=row.price_cents,
                original_price_cents=row.original_price_cents,
                currency=row.currency,
                distance_m=distance,
                expires_at=row.expires_at,
                zone_name=zone,
                locale=locale,
                translations=translations(locale),
                closes_at=part.closes_at,
            )
        return PushMessage(
            token=row.fcm_token,
            data={
                "type": "offer",
                "notification_id": str(row.id),
                **part.data,
                "distance_m": str(int(round(distance))),
                **part.place,
                "locale": locale,
            },
            collapse_key=part.collapse_key,
            ttl_s=part.ttl_s,
            expires_at_unix=part.expires_at_unix,
            title=wording.title,
            body=wording.body,
            urgency=_ALERT_URGENCY,
            link=part.link,
            image=part.image,
        )

    def price_drop(self, row, distance: float) -> PushMessage:
        """The alert again at the step's price, under the same collapse key and TTL: it replaces
        the alert on the phone, so it carries everything the alert did, and what the price was."""
        alert = self.alert(row, distance)
        step = price_step(row.kind)
        steps = row.price_steps or []
        previous = steps[step - 1].get("previous_price_cents") if 0 < step <= len(steps) else None
        wording = audience.price_drop_text(
            title=row.title,
            shop_name=row.shop_name,
            discount_pct=row.discount_pct,
            price_cents=row.price_cents,
            original_price_cents=row.original_price_cents,
            previous_price_cents=previous,
            currency=row.currency,
            distance_m=distance,
            expires_at=row.expires_at,
            zone_name=row.timezone,
            locale=row.locale,
            translations=translations(row.locale),
        )
        data = {**alert.data, "type": "price_drop", "step": str(step)}
        if previous is not None:
            data["previous_price_cents"] = str(previous)
        return dataclasses.replace(
            alert, data=data, title=wording.title, body=wording.body, urgency=_PRICE_DROP_URGENCY
        )

    def withdrawal(self, row) -> PushMessage:
        """A data-only message under the alert's collapse key: the app replaces the alert
        with "gone" instead of leaving a deal that cannot be had. A browser cannot take a silent
        push, so the web app gets the "gone" words in the resident's language, under the
        alert's tag."""
        now = self.now
        status = offer_rules.effective_status(row.offer_status, row.expires_at, now)
        # Long enough to reach a phone that was offline for a while; no longer useful after.
        ends = withdrawal_ends(row)
        gone = audience.gone_text(
            title=row.title, shop_name=row.shop_name, status=status, translations=translations(row.locale)
        )
        return PushMessage(
            token=row.fcm_token,
            data={"type": "withdrawn", "notification_id": str(row.id), "offer_id": row.offer_id,
                  "shop_id": row.shop_id, "status": status, "locale": row.locale},
            collapse_key=delivery.collapse_key(row.offer_id),
            ttl_s=delivery.ttl_s(ends, now),
            expires_at_unix=math.floor(ends.timestamp()),
            web_title=gone.title,
            web_body=gone.body,
            urgency=_WITHDRAWAL_URGENCY,
            link=delivery.offer_link(self.public_url, row.offer_id),
        )

