"""Claiming: the next due pushes, leased to this dispatcher, decided and built, in one
transaction of a handful of statements whatever the batch size.

On the happy path the database does per-batch work: one UPDATE takes the next planned batch
(push_batches, FOR UPDATE SKIP LOCKED on PostgreSQL: claimers side by side never wait for each
other), one query reads its pushes (written 'sending' in it when the wave was planned: no row of
theirs is written to claim them), one its offers with their shops, one its residents, one
statement counts the daily caps. Pushes due on their own (retries, deferrals, those whose own
lease ran out) are each leased with one row update, when no batch is due and at least once a
second before the batches. Only pushes that do not go now (deferred, suppressed, dropped) cost
a statement more."""
from __future__ import annotations

from collections import namedtuple
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, and_, any_, bindparam, select, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY

from ...adapters.db.models import Offer, Shop, Subscriber
from ...domain import audience, geo
from ...domain.outbox import PushKind, PushStatus, price_step
from ...observability import PUSH_OUTCOMES
from ..rules import RulesService
from .messages import Messages
from .outbox import NOTIFICATIONS, BatchClaim, Claimed, is_pg, release_batch, take_batch
from .quota import reserve
from .screening import DAILY_CAP, alert_statuses, follow_up, screen, screen_price, screen_withdrawal
from .settings import DispatchSettings

_N = NOTIFICATIONS.c
# How often, at least, the pushes due on their own are claimed before the planned batches.
OWN_FIRST_EVERY = timedelta(seconds=1)
_OFFER = (
    Offer.id.label("offer_id"), Offer.title, Offer.status.label("offer_status"), Offer.expires_at,
    Offer.price_cents, Offer.original_price_cents, Offer.discount_pct, Offer.currency, Offer.price_step,
    Offer.price_steps, Offer.photo, Shop.id.label("shop_id"), Shop.name.label("shop_name"), Shop.lat.label("shop_lat"),
    Shop.lon.label("shop_lon"), Shop.timezone.label("shop_timezone"), Shop.opening_hours.label("shop_hours"),
)
# The resident's key first: it is the notification's too, so the claimed row takes it from there.
_RESIDENT = (
    Subscriber.pk.label("subscriber_pk"), Subscriber.active, Subscriber.timezone, Subscriber.locale,
    Subscriber.quiet_start, Subscriber.quiet_end, Subscriber.max_per_day, Subscriber.fcm_token, Subscriber.lat,
    Subscriber.lon, Subscriber.price_drops,
)
# What the claim returns of each notification; its offer's key comes with the offer.
# due_at only orders the pushes due on their own: read as stored (naive UTC), not made aware row by row.
_TAKEN = (_N.id, _N.kind, _N.attempts, _N.subscriber_pk, _N.distance_m, _N.created_at,
          type_coerce(_N.due_at, DateTime()).label("due_at"), _N.offer_id)
# The same of a batch's pushes, whose attempt is counted when it is recorded (the claim writes none
# of their rows): `attempts` is this send's, as the take returns it.
_IN_BATCH = tuple((_N.attempts + 1).label("attempts") if c is _N.attempts else c for c in _TAKEN)
# A claimed notification with everything its push needs, read by name; a tuple, put together from
# the three rows at the cost of one concatenation (a dict per row cost the claim a fifth of its time).
ClaimedRow = namedtuple(
    "ClaimedRow",
    [c.key for c in _OFFER] + [c.key for c in _RESIDENT[1:]] + [c.key for c in _TAKEN[:-1]],
)


class Claimer:
    def __init__(self, rules: RulesService, settings: DispatchSettings, messages: Messages):
        self.rules = rules
        self.settings = settings
        self.messages = messages
        # When the pushes due on their own are looked for before the batches next (see claim()).
        self._own_first_at: datetime | None = None

    def claim(self, s, now: datetime, limit: int) -> list[Claimed]:
        """Take the next planned batch, or the pushes due on their own (retries, deferrals,
        those whose own lease ran out); decide each (send now, defer, suppress, drop) and count
        the ones that go against their resident's daily cap.

        The pushes due on their own come after the batches, but at least once every
        OWN_FIRST_EVERY before them: during a rush a retry or a deferred push waits that long at
        most behind the planned batches, and the happy path costs the database two index probes
        a second, not two per batch (which measured a few µs per push in the fan-out bench)."""
        lease = now + self.settings.lease
        own_first = self._own_first_at is None or now >= self._own_first_at
        if own_first:
            self._own_first_at = now + OWN_FIRST_EVERY
            if claimed := self._claim_own(s, now, limit, lease):
                return claimed
        while (batch := take_batch(s, now, lease)) is not None:
            taken = s.execute(
                select(*_IN_BATCH)
                .where(_N.batch_id == batch.id, _N.status == PushStatus.SENDING, _N.lease_until.is_(None))
                .order_by(_N.id)
            ).all()
            # A smaller claim (the breaker's probe) takes the first pushes; the rest stay in the batch.
            batch = BatchClaim(batch.id, batch.attempts, whole=len(taken) <= limit)
            if taken and (claimed := self._decide(s, now, taken[:limit], batch)):
                return claimed
            # Nothing of it goes now (all deferred, dropped...): done with, or given back for the rest.
            release_batch(s, batch)
        return [] if own_first else self._claim_own(s, now, limit, lease)

    def _claim_own(self, s, now: datetime, limit: int, lease: datetime) -> list[Claimed]:
        """The pushes due on their own, each leased with one row update: those whose own lease
        ran out first, then the due ones. Two statements, not one with OR: each walks its partial
        index in order and stops at the batch size, where an OR would sort every due row for
        every batch. (A batch's pushes have no lease of their own: they are not among the first.)"""
        taken = self._take(s, and_(_N.status == PushStatus.SENDING, _N.lease_until.is_not(None), _N.lease_until < now),
                           _N.lease_until, limit, lease)
        if len(taken) < limit:
            taken += self._take(s, and_(_N.status == PushStatus.PENDING, _N.due_at <= now), _N.due_at,
                                limit - len(taken), lease)
        return self._decide(s, now, taken, None) if taken else []

    def _decide(self, s, now: datetime, taken: list, batch: BatchClaim | None) -> list[Claimed]:
        """The taken pushes that go now, built; the others changed to what they become instead."""
        rows = self._with_what_they_need(s, taken)
        rules = self.rules.current(s)
        changes: list[dict] = []
        going = []
        # A withdrawal or a price drop follows an alert that was delivered (a batch's alerts
        # wait as 'sending' until they are).
        alerts = alert_statuses(s, [row for row in rows if row.kind != PushKind.OFFER])
        for row in rows:
            if row.kind == PushKind.WITHDRAW:
                verdict = screen_withdrawal(row, now) or follow_up(alerts.get((row.offer_id, row.subscriber_pk)), now)
            elif price_step(row.kind) is not None:
                verdict = screen_price(row, now) or follow_up(alerts.get((row.offer_id, row.subscriber_pk)), now)
            else:
                verdict = screen(row, now)
            if verdict is None:
                going.append(row)
            else:
                changes.append(self._instead(row, verdict))
        # The daily caps, one statement for the batch; alerts only (a price drop or a
        # withdrawal updates an alert the resident has).
        days = {row.id: audience.local_day(now, row.timezone) for row in going if row.kind == PushKind.OFFER}
        wants: dict[tuple[int, str], tuple[int, int]] = {}
        for row in going:
            if row.id in days:
                key = (row.subscriber_pk, days[row.id])
                wanted = wants.get(key, (0, 0))[0]
                wants[key] = (wanted + 1, audience.daily_cap(row.max_per_day, rules.max_notifications_per_day))
        allowed = reserve(s, wants)
        claimed: list[Claimed] = []
        for row in going:
            day = days.get(row.id)
            if day is not None:
                key = (row.subscriber_pk, day)
                if allowed[key] <= 0:
                    changes.append(self._instead(row, DAILY_CAP))
                    continue
                allowed[key] -= 1
            distance = row.distance_m
            if row.kind == PushKind.WITHDRAW:
                message = self.messages.withdrawal(row, now)
            else:
                if distance is None:
                    # The wave measured it, from the nearest of the resident's places that counts;
                    # else it is worked out once and kept (a price drop replaces the alert from there).
                    distance = geo.distance_shown_m(row.shop_lat, row.shop_lon, row.lat, row.lon)
                    changes.append({"nid": row.id, "distance_m": distance})
                if row.kind == PushKind.OFFER:
                    message = self.messages.alert(row, distance, now)
                else:
                    message = self.messages.price_drop(row, distance, now)
            claimed.append(Claimed(row.id, row.subscriber_pk, day, message, row.attempts, batch))
        self._apply(s, changes)
        return claimed

    @staticmethod
    def _take(s, condition, order, limit: int, lease: datetime) -> list:
        """Due notifications, leased (status sending, one attempt more) and returned; rows
        another dispatcher holds are skipped, not waited for."""
        due = select(_N.id).where(condition).order_by(order).limit(limit).with_for_update(skip_locked=True)
        return s.execute(
            NOTIFICATIONS.update()
            .where(_N.id.in_(due.scalar_subquery()))
            .values(status=PushStatus.SENDING, lease_until=lease, attempts=_N.attempts + 1)
            .returning(*_TAKEN)
        ).all()

    @staticmethod
    def _with_what_they_need(s, taken: list) -> list[ClaimedRow]:
        """The taken rows, in the order they fell due, each with its offer, shop and resident
        (one query for the batch's few offers, one for its residents)."""
        offers = {
            row.offer_id: tuple(row)
            for row in s.execute(
                select(*_OFFER).join(Shop, Offer.shop_id == Shop.id).where(Offer.id.in_({t.offer_id for t in taken}))
            )
        }
        pks = list({t.subscriber_pk for t in taken})
        # On PostgreSQL one array parameter, not a thousand: the statement's text stays the same
        # from batch to batch, so neither psycopg nor the server parses it again.
        among = (Subscriber.pk == any_(bindparam("pks", pks, type_=ARRAY(Integer))) if is_pg(s)
                 else Subscriber.pk.in_(pks))
        residents = {row[0]: tuple(row)[1:] for row in s.execute(select(*_RESIDENT).where(among))}
        # A notification's resident and offer stay (foreign keys): every row finds both.
        make = ClaimedRow._make
        return [
            make((*offers[t[-1]], *residents[t.subscriber_pk], *tuple(t)[:-1]))
            for t in sorted(taken, key=lambda t: (t.due_at, t.id))
        ]

    @staticmethod
    def _instead(row, verdict: tuple[str, dict]) -> dict:
        """What a push that does not go now becomes: its attempt unspent, no lease, out of its
        batch (a deferred push is claimed on its own when it falls due)."""
        label, values = verdict
        PUSH_OUTCOMES.labels(label).inc()
        return {**values, "attempts": row.attempts - 1, "lease_until": None, "batch_id": None, "nid": row.id}

    @staticmethod
    def _apply(s, changes: list[dict]) -> None:
        """One executemany per shape of change (deferred, suppressed, dropped, a distance
        worked out): none on the happy path."""
        shapes: dict[tuple, list[dict]] = {}
        for change in changes:
            shapes.setdefault(tuple(sorted(change)), []).append(change)
        for keys, params in shapes.items():
            s.execute(
                NOTIFICATIONS.update()
                .where(_N.id == bindparam("nid"))
                .values({k: bindparam(k) for k in keys if k != "nid"}),
                params,
            )
