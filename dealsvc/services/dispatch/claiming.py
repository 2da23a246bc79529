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

from datetime import datetime, timedelta

from ...domain import audience, geo
from ...domain.outbox import PushKind, PushStatus, price_step
from ...observability import PUSH_OUTCOMES
from ..rules import RulesService
from .messages import Messages
from .outbox import BatchClaim, Claimed, release_batch, take_batch
from .ports import Outbox
from .quota import reserve
from .screening import DAILY_CAP, follow_up, screen, screen_price, screen_withdrawal
from .settings import DispatchSettings

# How often, at least, the pushes due on their own are claimed before the planned batches.
OWN_FIRST_EVERY = timedelta(seconds=1)


class Claimer:
    def __init__(self, rules: RulesService, settings: DispatchSettings, messages: Messages):
        self.rules = rules
        self.settings = settings
        self.messages = messages
        # When the pushes due on their own are looked for before the batches next (see claim()).
        self._own_first_at: datetime | None = None

    def claim(self, q: Outbox, now: datetime, limit: int) -> list[Claimed]:
        """Take the next planned batch, or the pushes due on their own (retries, deferrals,
        those whose own lease ran out); decide each (send now, defer, suppress, drop) and count
        the ones that go against their resident's daily cap.

        The pushes due on their own come after the batches, but at least once every
        OWN_FIRST_EVERY before them: during a rush a retry or a deferred push waits that long at
        most behind the planned batches, and the happy path costs the database two index probes
        a second, not two per batch (which measured a few µs per push in the fan-out bench)."""
        q.index_scans()
        lease = now + self.settings.lease
        own_first = self._own_first_at is None or now >= self._own_first_at
        if own_first:
            self._own_first_at = now + OWN_FIRST_EVERY
            if claimed := self._claim_own(q, now, limit, lease):
                return claimed
        while (batch := take_batch(q, now, lease)) is not None:
            taken = q.batch_pushes(batch.id)
            # A smaller claim (the breaker's probe) takes the first pushes; the rest stay in the batch.
            batch = BatchClaim(batch.id, batch.attempts, whole=len(taken) <= limit)
            if taken and (claimed := self._decide(q, now, taken[:limit], batch)):
                return claimed
            # Nothing of it goes now (all deferred, dropped...): done with, or given back for the rest.
            release_batch(q, batch)
        return [] if own_first else self._claim_own(q, now, limit, lease)

    def _claim_own(self, q: Outbox, now: datetime, limit: int, lease: datetime) -> list[Claimed]:
        """The pushes due on their own, each leased with one row update: those whose own lease
        ran out first, then the due ones. Two statements, not one with OR: each walks its partial
        index in order and stops at the batch size, where an OR would sort every due row for
        every batch. (A batch's pushes have no lease of their own: they are not among the first.)"""
        taken = q.take_lease_ran_out(now, limit, lease)
        if len(taken) < limit:
            taken += q.take_pending_due(now, limit - len(taken), lease)
        return self._decide(q, now, taken, None) if taken else []

    def _decide(self, q: Outbox, now: datetime, taken: list, batch: BatchClaim | None) -> list[Claimed]:
        """The taken pushes that go now, built; the others changed to what they become instead."""
        rows = q.with_what_they_need(taken)
        rules = self.rules.current(q)
        changes: list[dict] = []
        going = []
        # A withdrawal or a price drop follows an alert that was delivered (a batch's alerts
        # wait as 'sending' until they are).
        alerts = q.alert_statuses([row for row in rows if row.kind != PushKind.OFFER])
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
        allowed = reserve(q, wants)
        claimed: list[Claimed] = []
        messages = self.messages.at(now)
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
                message = messages.withdrawal(row)
            else:
                if distance is None:
                    # The wave measured it, from the nearest of the resident's places that counts;
                    # else it is worked out once and kept (a price drop replaces the alert from there).
                    distance = geo.distance_shown_m(row.shop_lat, row.shop_lon, row.lat, row.lon)
                    changes.append({"nid": row.id, "distance_m": distance})
                if row.kind == PushKind.OFFER:
                    message = messages.alert(row, distance)
                else:
                    message = messages.price_drop(row, distance)
            claimed.append(Claimed(row.id, row.subscriber_pk, day, message, row.attempts, batch))
        # One statement per shape of change (deferred, suppressed, dropped, a distance worked
        # out): none on the happy path.
        q.change_pushes(changes)
        return claimed

    @staticmethod
    def _instead(row, verdict: tuple[str, dict]) -> dict:
        """What a push that does not go now becomes: its attempt unspent, no lease, out of its
        batch (a deferred push is claimed on its own when it falls due)."""
        label, values = verdict
        PUSH_OUTCOMES.labels(label).inc()
        pending_due_at = values["due_at"] if values["status"] == PushStatus.PENDING else None
        return {**values, "pending_due_at": pending_due_at, "attempts": row.attempts - 1, "lease_until": None,
                "batch_id": None, "nid": row.id}
