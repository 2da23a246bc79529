"""A claim's statements (services/dispatch/claiming.py): a planned batch or the pushes due on
their own taken under lease, a batch's pushes read, what does not go now changed, the alerts a
withdrawal or a price drop waits for read, a batch given back or deleted."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select

from .....domain.outbox import PushKind, PushStatus
from .rows import IN_BATCH, TAKEN
from .tables import BATCHES, NOTIFICATIONS, OnOutbox

_N = NOTIFICATIONS.c


class ClaimQueries(OnOutbox):
    def take_batch(self, now: datetime, lease: datetime) -> Any:
        """The next planned batch no one holds (never claimed, or its claim ran out before `now`),
        claimed until `lease`: one row written, whatever its size; its .id and .attempts (this
        claim's), or None. Batches another claimer holds locked are skipped, not waited for
        (PostgreSQL; SQLite has one writer)."""
        b = BATCHES.c
        due = (
            select(b.id).where(or_(b.claimed_until.is_(None), b.claimed_until < now))
            .order_by(b.id).limit(1).with_for_update(skip_locked=True)
        )
        return self.session.execute(
            BATCHES.update().where(b.id == due.scalar_subquery())
            .values(claimed_until=lease, attempts=b.attempts + 1).returning(b.id, b.attempts)
        ).first()

    def batch_pushes(self, batch_id: int) -> list:
        """The batch's pushes still waiting in it, by id, as a claim takes them (rows.py, IN_BATCH)."""
        return self.session.execute(
            select(*IN_BATCH)
            .where(_N.batch_id == batch_id, _N.status == PushStatus.SENDING, _N.lease_until.is_(None))
            .order_by(_N.id)
        ).all()

    def delete_batch(self, batch_id: int) -> None:
        self.session.execute(BATCHES.delete().where(BATCHES.c.id == batch_id))

    def give_back_batch(self, batch_id: int) -> None:
        """The batch unclaimed, for the next claim to take."""
        self.session.execute(BATCHES.update().where(BATCHES.c.id == batch_id).values(claimed_until=None))

    def take_lease_ran_out(self, now: datetime, limit: int, lease: datetime) -> list:
        """Up to `limit` pushes claimed on their own whose lease ran out before `now`, leased
        again until `lease` (see _take)."""
        ran_out = and_(_N.status == PushStatus.SENDING, _N.lease_until.is_not(None), _N.lease_until < now)
        return self._take(ran_out, _N.lease_until, limit, lease)

    def take_pending_due(self, now: datetime, limit: int, lease: datetime) -> list:
        """Up to `limit` pending pushes due at `now`, the first due first, leased until `lease`."""
        return self._take(_N.pending_due_at <= now, _N.pending_due_at, limit, lease)

    def _take(self, condition, order, limit: int, lease: datetime) -> list:
        """Due notifications, leased (status sending, one attempt more) and returned (rows.py,
        TAKEN); rows another dispatcher holds are skipped, not waited for. One statement, which
        walks the partial index of `order` and stops at `limit`."""
        due = select(_N.id).where(condition).order_by(order).limit(limit).with_for_update(skip_locked=True)
        return self.session.execute(
            NOTIFICATIONS.update()
            .where(_N.id.in_(due.scalar_subquery()))
            .values(status=PushStatus.SENDING, pending_due_at=None, lease_until=lease, attempts=_N.attempts + 1)
            .returning(*TAKEN)
        ).all()

    def change_pushes(self, changes: list[dict]) -> None:
        """Each change {"nid": a notification's id, column: new value...}: one executemany per
        shape of change (deferred, suppressed, dropped, a distance worked out)."""
        shapes: dict[tuple, list[dict]] = {}
        for change in changes:
            shapes.setdefault(tuple(sorted(change)), []).append(change)
        for keys, params in shapes.items():
            self.session.execute(
                NOTIFICATIONS.update()
                .where(_N.id == bindparam("nid"))
                .values({k: bindparam(k) for k in keys if k != "nid"}),
                params,
            )

    def alert_statuses(self, follow_ups: list) -> dict[tuple[str, int], str]:
        """The status of the alert each of `follow_ups` (rows with .offer_id, .subscriber_pk)
        follows, by (offer, resident): one query, and none for no rows."""
        if not follow_ups:
            return {}
        n = NOTIFICATIONS.c
        pks = list({row.subscriber_pk for row in follow_ups})
        among = self.among(n.subscriber_pk, pks, "alert_pks")
        return {
            (offer_id, pk): status
            for offer_id, pk, status in self.session.execute(
                select(n.offer_id, n.subscriber_pk, n.status)
                .where(n.kind == PushKind.OFFER, n.offer_id.in_({row.offer_id for row in follow_ups}), among)
            )
        }
