"""The push dispatcher: expands fan-outs into notifications, applies the audience rules, sends
through the push gateway and records every outcome.

A notification moves pending -> sending -> sent | failed | suppressed | dropped. Claiming a
batch marks it `sending` with a lease and commits before anything is sent, so a crashed
dispatcher's batch is claimed again once the lease runs out: a crash costs at most one batch of
duplicates, never a lost push. On PostgreSQL several dispatchers claim side by side with
FOR UPDATE SKIP LOCKED; on SQLite the write lock serializes them.
"""
from __future__ import annotations

import logging
import math
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..adapters.db import Database
from ..adapters.db.models import Fanout, Notification, Offer, PushQuota, Shop, Subscriber
from ..adapters.geo_index import SubscriberIndex
from ..adapters.push import DEAD_LETTER, DEAD_TOKEN, RETRY, SENT, PushGateway, PushMessage, PushResult
from ..domain import audience, geo
from ..domain import offers as offer_rules
from ..domain.clock import Clock
from ..observability import FANOUT_MATCH_SECONDS, PUSH_OUTCOMES
from .rules import RulesService

log = logging.getLogger(__name__)

PENDING, SENDING = "pending", "sending"
DONE_SENT, FAILED, SUPPRESSED, DROPPED = "sent", "failed", "suppressed", "dropped"
_INSERT_CHUNK = 2000


@dataclass(frozen=True)
class DispatchSettings:
    batch_size: int = 100
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 8
    backoff_base_s: float = 2.0
    backoff_max_s: float = 900.0


def _insert(session):
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)


def backoff_s(attempts: int, settings: DispatchSettings, retry_after: float | None, rng=random.random) -> float:
    """Exponential with full jitter in [0.5, 1.5) of the step, never before FCM's Retry-After."""
    step = min(settings.backoff_max_s, settings.backoff_base_s * (2 ** max(0, attempts - 1)))
    delay = step * (0.5 + rng())
    return max(delay, retry_after or 0.0)


@dataclass
class _Claimed:
    notification_id: int
    subscriber_pk: int
    day: str | None  # the local day whose quota it counts against; None: not counted
    message: PushMessage
    attempts: int


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        rules: RulesService,
        index: SubscriberIndex,
        gateway: PushGateway,
        settings: DispatchSettings | None = None,
    ):
        self.db = db
        self.clock = clock
        self.rules = rules
        self.index = index
        self.gateway = gateway
        self.settings = settings or DispatchSettings()

    # --- the loop ----------------------------------------------------------------------

    def run_once(self) -> int:
        """Expand the due fan-outs, then send one batch. Returns how much work was done."""
        work = 0
        while self.expand_one():
            work += 1
        work += self.send_batch()
        return work

    def run_forever(self, stop: threading.Event, idle_s: float = 0.25) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # keep the loop alive; the outbox keeps the work
                log.exception("dispatcher iteration failed")
                busy = 0
            if not busy:
                stop.wait(idle_s)

    # --- fan-out -----------------------------------------------------------------------

    def expand_one(self) -> bool:
        """Turn one due fan-out into notifications. The fan-out is claimed first (its due_at
        moves a lease ahead, so a crashed dispatcher's fan-out falls due again), the audience
        is matched outside any transaction, and the notifications are written idempotently."""
        now = self.clock()
        with self.db.write() as s:
            fanout = s.scalar(
                select(Fanout)
                .where(Fanout.done_at.is_(None), Fanout.due_at <= now)
                .order_by(Fanout.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if fanout is None:
                return False
            fanout.due_at = now + self.settings.lease
            fanout_id, kind = fanout.id, fanout.kind
            offer, shop = s.execute(
                select(Offer, Shop).join(Shop, Offer.shop_id == Shop.id).where(Offer.id == fanout.offer_id)
            ).one()
            offer_id, live = offer.id, offer_rules.is_live(offer.status, offer.expires_at, now)
            cap = self.rules.current(s).max_radius_m
        pks: list[int] = []
        if kind == "offer" and live:
            self.index.refresh()
            with FANOUT_MATCH_SECONDS.time():
                pks = self.index.match(shop.lat, shop.lon, cap, offer.category).tolist()
        with self.db.write() as s:
            fanout = s.get(Fanout, fanout_id, with_for_update=True)
            if fanout.done_at is not None:
                return True  # another dispatcher finished it after our claim ran out
            if kind == "withdraw":
                # Everyone who was (or may have been) told gets the withdrawal.
                pks = list(
                    s.scalars(
                        select(Notification.subscriber_pk).where(
                            Notification.offer_id == offer_id,
                            Notification.kind == "offer",
                            Notification.status.in_([DONE_SENT, SENDING]),
                        )
                    )
                )
            matched = self._insert_notifications(s, offer_id, pks, now, kind=kind) if pks else 0
            fanout.done_at = now
            fanout.matched = matched
        log.info("offer %s: %d residents to %s", offer_id, matched, "tell it is gone" if kind == "withdraw" else "tell")
        return True

    def _insert_notifications(self, s, offer_id: str, pks: list[int], now: datetime, kind: str = "offer") -> int:
        insert = _insert(s)
        for start in range(0, len(pks), _INSERT_CHUNK):
            chunk = pks[start : start + _INSERT_CHUNK]
            # Only residents still active in the database: the index may lag a deletion.
            source = select(
                Subscriber.pk,
            ).where(Subscriber.pk.in_(chunk), Subscriber.active.is_(True))
            rows = [{"subscriber_pk": pk} for (pk,) in s.execute(source)]
            if not rows:
                continue
            stmt = insert(Notification).values(
                [
                    {
                        "offer_id": offer_id,
                        "subscriber_pk": r["subscriber_pk"],
                        "kind": kind,
                        "status": PENDING,
                        "due_at": now,
                        "attempts": 0,
                        "created_at": now,
                    }
                    for r in rows
                ]
            ).on_conflict_do_nothing(index_elements=["offer_id", "subscriber_pk", "kind"])
            s.execute(stmt)
        return s.scalar(
            select(func.count()).select_from(Notification).where(Notification.offer_id == offer_id, Notification.kind == kind)
        )

    # --- sending -----------------------------------------------------------------------

    def send_batch(self) -> int:
        now = self.clock()
        claimed = self._claim(now)
        if not claimed:
            return 0
        results = self.gateway.send([c.message for c in claimed])
        self._record(claimed, results)
        log.debug("sent batch of %d", sum(1 for r in results if r.outcome == SENT))
        return len(claimed)

    def _claim(self, now: datetime) -> list[_Claimed]:
        with self.db.write() as s:
            rules = self.rules.current(s)
            rows = s.execute(
                select(Notification, Offer, Shop, Subscriber)
                .join(Offer, Notification.offer_id == Offer.id)
                .join(Shop, Offer.shop_id == Shop.id)
                .join(Subscriber, Notification.subscriber_pk == Subscriber.pk)
                .where(
                    or_(
                        and_(Notification.status == PENDING, Notification.due_at <= now),
                        and_(Notification.status == SENDING, Notification.lease_until < now),
                    )
                )
                .order_by(Notification.due_at, Notification.id)
                .limit(self.settings.batch_size)
                .with_for_update(of=Notification, skip_locked=True)
            ).all()
            if not rows:
                return []
            quota = self._lock_quota(
                s, {(sub.pk, audience.local_day(now, sub.timezone)) for n, _, _, sub in rows if n.kind == "offer"}
            )
            claimed: list[_Claimed] = []
            for n, offer, shop, sub in rows:
                if n.kind == "withdraw":
                    if not sub.active:
                        n.status, n.reason = DROPPED, "subscriber_inactive"
                        PUSH_OUTCOMES.labels(DROPPED).inc()
                        continue
                    n.status, n.lease_until = SENDING, now + self.settings.lease
                    n.attempts += 1
                    claimed.append(_Claimed(n.id, sub.pk, None, self._withdrawal(offer, sub, now), n.attempts))
                    continue
                verdict = self._screen(n, offer, sub, now, rules, quota)
                if verdict is not None:
                    PUSH_OUTCOMES.labels(verdict).inc()
                    continue
                day = audience.local_day(now, sub.timezone)
                quota[(sub.pk, day)] += 1
                n.status = SENDING
                n.lease_until = now + self.settings.lease
                n.attempts += 1
                n.distance_m = geo.distance_m(shop.lat, shop.lon, sub.lat, sub.lon)
                claimed.append(
                    _Claimed(n.id, sub.pk, day, self._message(offer, shop, sub, n.distance_m, now), n.attempts)
                )
            self._store_quota(s, quota)
            return claimed

    def _screen(self, n: Notification, offer: Offer, sub: Subscriber, now, rules, quota) -> str | None:
        """None when the push may go now; otherwise what happened to it instead."""
        if not offer_rules.is_live(offer.status, offer.expires_at, now):
            n.status, n.reason = DROPPED, "offer_" + offer_rules.effective_status(offer.status, offer.expires_at, now)
            return DROPPED
        if not sub.active:
            n.status, n.reason = DROPPED, "subscriber_inactive"
            return DROPPED
        if (offer.expires_at - now).total_seconds() < 1:
            n.status, n.reason = DROPPED, "offer_expired"
            return DROPPED
        until = audience.quiet_until(now, sub.timezone, sub.quiet_start, sub.quiet_end)
        if until is not None:
            if until >= offer.expires_at:
                n.status, n.reason = SUPPRESSED, "quiet_hours"
                return SUPPRESSED
            n.status, n.reason, n.due_at, n.lease_until = PENDING, "quiet_hours", until, None
            return "deferred"
        cap = audience.daily_cap(sub.max_per_day, rules.max_notifications_per_day)
        if quota[(sub.pk, audience.local_day(now, sub.timezone))] >= cap:
            n.status, n.reason = SUPPRESSED, "daily_cap"
            return SUPPRESSED
        return None

    def _lock_quota(self, s, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
        keys = sorted(keys)
        if not keys:
            return {}
        s.execute(
            _insert(s)(PushQuota)
            .values([{"subscriber_pk": pk, "day": day, "count": 0} for pk, day in keys])
            .on_conflict_do_nothing(index_elements=["subscriber_pk", "day"])
        )
        counts: dict[tuple[int, str], int] = {}
        # Locked in key order, so two dispatchers never wait on each other in a cycle.
        for pk, day in keys:
            row = s.execute(
                select(PushQuota.count)
                .where(PushQuota.subscriber_pk == pk, PushQuota.day == day)
                .with_for_update()
            ).scalar_one()
            counts[(pk, day)] = row
        return counts

    def _store_quota(self, s, quota: dict[tuple[int, str], int]) -> None:
        for (pk, day), count in quota.items():
            s.execute(
                update(PushQuota)
                .where(PushQuota.subscriber_pk == pk, PushQuota.day == day)
                .values(count=count)
            )

    def _message(self, offer: Offer, shop: Shop, sub: Subscriber, distance: float, now: datetime) -> PushMessage:
        expires = offer.expires_at
        text = audience.push_text(
            title=offer.title,
            shop_name=shop.name,
            discount_pct=offer.discount_pct,
            price_cents=offer.price_cents,
            original_price_cents=offer.original_price_cents,
            currency=offer.currency,
            distance_m=distance,
            expires_at=expires,
            zone_name=sub.timezone,
        )
        return PushMessage(
            token=sub.fcm_token,
            data={
                "type": "offer",
                "offer_id": offer.id,
                "shop_id": shop.id,
                "shop_name": shop.name,
                "title": offer.title,
                "price_cents": str(offer.price_cents),
                "original_price_cents": str(offer.original_price_cents),
                "discount_pct": f"{offer.discount_pct:g}",
                "currency": offer.currency,
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "distance_m": str(int(round(distance))),
                "lat": f"{shop.lat:.6f}",
                "lon": f"{shop.lon:.6f}",
            },
            collapse_key=f"offer-{offer.id}",
            ttl_s=max(1, math.floor((expires - now).total_seconds())),
            expires_at_unix=math.floor(expires.timestamp()),
            title=text.title,
            body=text.body,
        )

    def _withdrawal(self, offer: Offer, sub: Subscriber, now: datetime) -> PushMessage:
        """A data-only message under the alert's collapse key: the app replaces the alert
        with "gone" instead of leaving a deal that cannot be had."""
        status = offer_rules.effective_status(offer.status, offer.expires_at, now)
        # Long enough to reach a phone that was offline for a while; no longer useful after.
        ttl = max(3600, math.floor((offer.expires_at - now).total_seconds()))
        return PushMessage(
            token=sub.fcm_token,
            data={"type": "withdrawn", "offer_id": offer.id, "shop_id": offer.shop_id, "status": status},
            collapse_key=f"offer-{offer.id}",
            ttl_s=ttl,
            expires_at_unix=math.floor((now + timedelta(seconds=ttl)).timestamp()),
        )

    def _record(self, claimed: list[_Claimed], results: list[PushResult]) -> None:
        now = self.clock()
        with self.db.write() as s:
            released: list[tuple[int, str]] = []
            for c, result in zip(claimed, results):
                if result.outcome == SENT:
                    # A delivery is a fact even if our lease ran out meanwhile: recording it
                    # stops a takeover from sending a third time.
                    s.execute(
                        update(Notification)
                        .where(Notification.id == c.notification_id, Notification.status.in_([SENDING, PENDING]))
                        .values(status=DONE_SENT, reason=None, fcm_message_id=result.message_id, sent_at=now, lease_until=None)
                    )
                    PUSH_OUTCOMES.labels("sent").inc()
                    continue
                # Any other outcome only for our own claim: a dispatcher that took the row over
                # after our lease ran out owns it now.
                mine = and_(
                    Notification.id == c.notification_id,
                    Notification.status == SENDING,
                    Notification.attempts == c.attempts,
                )
                if result.outcome == DEAD_TOKEN:
                    values = dict(status=FAILED, reason="dead_token", lease_until=None)
                    label = "dead_token"
                elif result.outcome == RETRY and c.attempts < self.settings.max_attempts:
                    due = now + timedelta(seconds=backoff_s(c.attempts, self.settings, result.retry_after_s))
                    values = dict(status=PENDING, reason=(result.error or "retry")[:32], due_at=due, lease_until=None)
                    label = "retry"
                else:
                    reason = "too_many_attempts" if result.outcome == RETRY else "dead_letter"
                    values = dict(status=FAILED, reason=reason, lease_until=None)
                    label = "dead_letter"
                if not s.execute(update(Notification).where(mine).values(**values)).rowcount:
                    continue
                PUSH_OUTCOMES.labels(label).inc()
                if c.day is not None:
                    released.append((c.subscriber_pk, c.day))
                if result.outcome == DEAD_TOKEN:
                    # A dead token never gets another try: the subscriber is off at once,
                    # unless the phone sent a new token meanwhile.
                    s.execute(
                        update(Subscriber)
                        .where(
                            Subscriber.pk == c.subscriber_pk,
                            Subscriber.active.is_(True),
                            Subscriber.fcm_token == c.message.token,
                        )
                        .values(active=False, updated_at=now)
                    )
            # What was not delivered does not count against the resident's daily cap. In key
            # order, like the claim, so two dispatchers never lock quota rows in a cycle.
            for pk, day in sorted(released):
                s.execute(
                    update(PushQuota)
                    .where(PushQuota.subscriber_pk == pk, PushQuota.day == day, PushQuota.count > 0)
                    .values(count=PushQuota.count - 1)
                )
