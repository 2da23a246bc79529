"""What a push says: the alert, the price drop that replaces it, the withdrawal."""
from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta

from ...adapters.catalogues import translations
from ...adapters.push import PushMessage
from ...domain import audience, delivery, hours
from ...domain import offers as offer_rules
from ...domain.outbox import price_step

WITHDRAWAL_MIN_TTL = timedelta(hours=1)


def withdrawal_ends(row) -> datetime:
    """A withdrawal is useful while a phone that was offline may still show the alert: until
    the offer would have expired, and at least an hour after the withdrawal."""
    return max(row.created_at + WITHDRAWAL_MIN_TTL, row.expires_at)


class Messages:
    """Builds the push of a claimed row (the notification with what its push needs)."""

    def __init__(self, public_url: str | None):
        self.public_url = public_url

    def alert(self, row, distance: float, now: datetime) -> PushMessage:
        """The alert for one claimed row (the notification joined to its offer, shop and
        resident)."""
        expires = row.expires_at
        wording = audience.push_text(
            title=row.title,
            shop_name=row.shop_name,
            discount_pct=row.discount_pct,
            price_cents=row.price_cents,
            original_price_cents=row.original_price_cents,
            currency=row.currency,
            distance_m=distance,
            expires_at=expires,
            zone_name=row.timezone,
            locale=row.locale,
            translations=translations(row.locale),
            closes_at=hours.open_until(row.shop_hours, row.shop_timezone, now),
        )
        return PushMessage(
            token=row.fcm_token,
            data={
                "type": "offer",
                "notification_id": str(row.id),
                "offer_id": row.offer_id,
                "shop_id": row.shop_id,
                "shop_name": row.shop_name,
                "title": row.title,
                "price_cents": str(row.price_cents),
                "original_price_cents": str(row.original_price_cents),
                "discount_pct": f"{row.discount_pct:g}",
                "currency": row.currency,
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "distance_m": str(int(round(distance))),
                "lat": f"{row.shop_lat:.6f}",
                "lon": f"{row.shop_lon:.6f}",
                "locale": row.locale,
            },
            collapse_key=delivery.collapse_key(row.offer_id),
            ttl_s=delivery.ttl_s(expires, now),
            expires_at_unix=math.floor(expires.timestamp()),
            title=wording.title,
            body=wording.body,
            urgency=delivery.urgency(delivery.ALERT),
            link=delivery.offer_link(self.public_url, row.offer_id),
            image=delivery.offer_image(self.public_url, row.photo),
        )

    def price_drop(self, row, distance: float, now: datetime) -> PushMessage:
        """The alert again at the step's price, under the same collapse key and TTL: it replaces
        the alert on the phone, so it carries everything the alert did, and what the price was."""
        alert = self.alert(row, distance, now)
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
            alert, data=data, title=wording.title, body=wording.body, urgency=delivery.urgency(delivery.PRICE_DROP)
        )

    def withdrawal(self, row, now: datetime) -> PushMessage:
        """A data-only message under the alert's collapse key: the app replaces the alert
        with "gone" instead of leaving a deal that cannot be had. A browser cannot take a silent
        push, so the web app gets the "gone" words in the resident's language, under the
        alert's tag."""
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
            urgency=delivery.urgency(delivery.WITHDRAWAL),
            link=delivery.offer_link(self.public_url, row.offer_id),
        )

