"""A wave's statements (services/dispatch/planning.py): the due fan-out claimed, its offer and
audience read, its notifications written in their batches, the fan-out done with."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, text

from .....domain.outbox import PushKind, PushStatus
from ...models import Fanout, Notification, Offer, PushBatch, Shop, Subscriber, UTCDateTime
from .tables import BATCHES, INSERT_CHUNK, OnOutbox, pg_array

# A wave's notifications, for the residents still active, once each (see insert_notifications),
# each waiting in its batch.
_PG_NOTIFY = text(
    "INSERT INTO notifications (offer_id, subscriber_pk, kind, status, reason, due_at, attempts, created_at, distance_m, batch_id) "
    "SELECT :offer_id, v.pk, :kind, CAST(:status AS varchar), CAST(:reason AS varchar), :now, 0, :now, v.distance, v.batch "
    "FROM unnest(CAST(:pks AS integer[]), CAST(:distances AS double precision[]), CAST(:batches AS integer[])) "
    "AS v(pk, distance, batch) JOIN subscribers AS s ON s.pk = v.pk AND s.active "
    "ON CONFLICT (offer_id, subscriber_pk, kind) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime))
_SQLITE_NOTIFY = text(
    "INSERT INTO notifications (offer_id, subscriber_pk, kind, status, reason, due_at, attempts, created_at, distance_m, batch_id) "
    "SELECT :offer_id, pk, :kind, :status, :reason, :now, 0, :now, :distance, :batch FROM subscribers WHERE pk = :pk AND active "
    "ON CONFLICT (offer_id, subscriber_pk, kind) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime))


class PlanningQueries(OnOutbox):
    def take_due_fanout(self, now: datetime) -> Any:
        """The first fan-out not done and due at `now`, locked (ones another dispatcher holds are
        skipped, not waited for); None when there is none. Its .id, .offer_id, .kind, .seq."""
        return self.session.scalar(
            select(Fanout)
            .where(and_(Fanout.done_at.is_(None), Fanout.due_at <= now))
            .order_by(Fanout.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )

    def lock_fanout(self, fanout_id: int) -> Any:
        """The fan-out, locked for the rest of the transaction (.done_at: None until done)."""
        return self.session.get(Fanout, fanout_id, with_for_update=True)

    def postpone_fanout(self, fanout: Any, due_at: datetime) -> None:
        """A fan-out of this transaction falls due again at `due_at` (written at the next statement)."""
        fanout.due_at = due_at

    def fanout_done(self, fanout: Any, now: datetime, matched: int) -> None:
        """A fan-out of this transaction done with at `now`, having written `matched` pushes."""
        fanout.done_at = now
        fanout.matched = matched

    def plan_fanout(self, offer_id: str, kind: str, seq: int, now: datetime, due_at: datetime) -> None:
        """A fan-out about the offer (its `seq`th of `kind`), due at `due_at`."""
        self.session.add(Fanout(offer_id=offer_id, kind=kind, seq=seq, created_at=now, due_at=due_at))

    def offer_with_shop(self, offer_id: str) -> tuple[Any, Any]:
        """The offer and its shop (their columns by name)."""
        return self.session.execute(
            select(Offer, Shop).join(Shop, Offer.shop_id == Shop.id).where(Offer.id == offer_id)
        ).one()

    def offer_stock(self, offer_id: str) -> Any:
        """The offer's .status, .expires_at and .quantity_left as they are now."""
        return self.session.execute(
            select(Offer.status, Offer.expires_at, Offer.quantity_left).where(Offer.id == offer_id)
        ).one()

    def told(self, offer_id: str, statuses: tuple[str, ...] | None = None) -> set[int]:
        """The residents with an alert about the offer (in any state, or in `statuses`)."""
        q = select(Notification.subscriber_pk).where(Notification.offer_id == offer_id, Notification.kind == PushKind.OFFER)
        if statuses is not None:
            q = q.where(Notification.status.in_(statuses))
        return set(self.session.scalars(q))

    def price_drop_audience(self, offer_id: str) -> list[tuple[int, float | None]]:
        """(key, the alert's distance) of the active residents who want price drops and hold an
        alert about the offer, sent or on its way: not one still waiting in a batch no one has
        claimed (built when claimed, it will say the new price)."""
        audience = (
            select(Notification.subscriber_pk, Notification.distance_m)
            .join(Subscriber, Subscriber.pk == Notification.subscriber_pk)
            .where(
                Notification.offer_id == offer_id,
                Notification.kind == PushKind.OFFER,
                Notification.status.in_((PushStatus.SENT, PushStatus.SENDING)),
                or_(Notification.batch_id.is_(None), Notification.batch_id.not_in(
                    select(PushBatch.id).where(PushBatch.attempts == 0))),
                Subscriber.active.is_(True),
                Subscriber.price_drops.is_(True),
            )
        )
        return [(pk, d) for pk, d in self.session.execute(audience)]

    def stale_tokens(self, pks: list[int], seen_before: datetime) -> set[int]:
        """Those of `pks` active whose app last presented its token before `seen_before`: looked
        up by key, a chunk of keys a statement."""
        stale: set[int] = set()
        for start in range(0, len(pks), INSERT_CHUNK):
            chunk = pks[start : start + INSERT_CHUNK]
            among = self.among(Subscriber.pk, chunk, "pks")
            stale.update(self.session.scalars(select(Subscriber.pk).where(
                among, Subscriber.active.is_(True), Subscriber.token_seen_at < seen_before)))
        return stale

    def new_batches(self, count: int, now: datetime) -> list[int]:
        """`count` new push batches, unclaimed; their ids in order."""
        ids: list[int] = []
        for start in range(0, count, INSERT_CHUNK):
            rows = [{"attempts": 0, "created_at": now}] * min(INSERT_CHUNK, count - start)
            ids += self.session.scalars(BATCHES.insert().values(rows).returning(BATCHES.c.id))
        return sorted(ids)

    def insert_notifications(
        self, offer_id: str, kind: str, now: datetime, status: str, reason: str | None,
        chosen: list[tuple[int, float | None]], batches: list[int | None],
    ) -> int:
        """A notification of `kind` about the offer for each of `chosen` (key, distance) still
        active, in the batch of the same position in `batches`, unless the resident has one
        already (idempotent); the rows inserted."""
        inserted = 0
        for start in range(0, len(chosen), INSERT_CHUNK):
            chunk = chosen[start : start + INSERT_CHUNK]
            params = {"offer_id": offer_id, "kind": kind, "now": now, "status": str(status), "reason": reason}
            chunk_batches = batches[start : start + len(chunk)]
            if self.is_pg:
                inserted += self.session.execute(_PG_NOTIFY, {
                    **params, "pks": pg_array([pk for pk, _ in chunk]), "distances": pg_array([d for _, d in chunk]),
                    "batches": pg_array(chunk_batches),
                }).rowcount
            else:
                inserted += self.session.execute(
                    _SQLITE_NOTIFY,
                    [{**params, "pk": pk, "distance": d, "batch": b} for (pk, d), b in zip(chunk, chunk_batches)],
                ).rowcount
        return inserted
