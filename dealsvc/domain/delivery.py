"""How a push about an offer travels: the key that makes a later push replace an earlier one,
how long it may wait for a phone that is offline, how urgent it is, and where a tap leads.

One offer, one key: its alert, its price drops and its withdrawal all carry the same collapse key
(Android, APNs), the same web push Topic (an undelivered earlier one is replaced on the way) and
the same notification tag (a shown one is replaced on the screen)."""
from __future__ import annotations

import base64
import hashlib
import math
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

from . import photos

# FCM keeps a message at most 28 days (android.ttl, and the web push TTL it relays).
MAX_TTL_S = 28 * 24 * 3600
# RFC 8030 5.4: a Topic is at most 32 characters of the URL- and filename-safe base64 alphabet.
TOPIC_LENGTH = 32

ALERT, PRICE_DROP, WITHDRAWAL = "alert", "price_drop", "withdrawal"


def collapse_key(offer_id: str) -> str:
    """The key every push about the offer carries (also the web notification's tag)."""
    return f"offer-{offer_id}"


@lru_cache(maxsize=1024)  # a wave asks for its offer's Topic once per resident
def web_topic(key: str) -> str:
    """The web push Topic for a collapse key: 32 characters of base64url, the same whatever the
    push (a collapse key such as "offer-off_<24 hex>" is longer than a Topic may be)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()[: TOPIC_LENGTH * 3 // 4]
    return base64.urlsafe_b64encode(digest).decode("ascii")


def ttl_s(useful_until: datetime, now: datetime) -> int:
    """Whole seconds a push stays useful, never more than are left (nor FCM's limit): a phone
    that comes back online after that is not shown it."""
    return max(0, min(MAX_TTL_S, math.floor((useful_until - now).total_seconds())))


def urgency(kind: str) -> str:
    """RFC 8030 Urgency: an alert wakes the device at once; a price drop or a withdrawal only
    updates a notification the resident already has, and may wait for the device's next wake."""
    return "high" if kind == ALERT else "normal"


@lru_cache(maxsize=1024)
def offer_link(public_url: str | None, offer_id: str) -> str | None:
    """The offer's page in the residents' web app, opened by a tap on the notification; only
    with an https public address (FCM refuses any other link), otherwise none."""
    if not public_url or urlsplit(public_url).scheme.lower() != "https":
        return None
    return f"{public_url.rstrip('/')}/app/offers/{offer_id}"


def offer_image(public_url: str | None, photo: str | None) -> str | None:
    """The offer's photo as a notification shows it: its large version, by absolute URL (the
    phone fetches it), so only when the service knows its public address; otherwise none."""
    if not public_url or not photo:
        return None
    return photos.media_url(public_url, photo)
