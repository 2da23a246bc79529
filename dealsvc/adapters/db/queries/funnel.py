"""What alerts earned (services/funnel.py): a resident opening a push, and a shop's funnel counted
by the database per offer and distance ring."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from ....domain import funnel
from ....domain import reservations as hold_rules
from ....domain.outbox import PushKind, PushStatus
from ..models import Notification, Offer, Reservation, Subscriber
from .base import OnSession

_TOLD = aliased(Notification, name="told")
_OPENED = aliased(Notification, name="opened")


def _ring_of(told):
    """An alert's distance ring, from its distance (the rings' bounds from domain/funnel.py)."""
    return case(
        *((told.distance_m < ring.high, ring.key) for ring in funnel.RINGS if ring.high is not None),
        else_=case((told.distance_m.is_not(None), funnel.RINGS[-1].key)),
    )


def _opened_by(told):
    """Whether its resident opened the alert or a price drop of the offer (a withdrawal says
    the deal is gone: not earned)."""
    return exists().where(_OPENED.offer_id == told.offer_id, _OPENED.subscriber_pk == told.subscriber_pk,
                          _OPENED.kind != PushKind.WITHDRAW, _OPENED.opened_at.is_not(None))


def _reserved_by(told, collected: bool = False):
    """Whether its resident reserved (and collected) the offer."""
    same = (Reservation.offer_id == told.offer_id, Reservation.subscriber_pk == told.subscriber_pk)
    return exists().where(*same, *((Reservation.status == hold_rules.COLLECTED,) if collected else ()))


def _stage(told, live, kept):
    """A stage of an alert: worked out while it is linked to its resident, and as it was kept
    when the retention period cut that link (services/retention.py)."""
    return or_(and_(told.subscriber_pk.is_not(None), live), and_(told.subscriber_pk.is_(None), kept.is_(True)))


def _share(condition):
    return func.sum(case((condition, 1), else_=0))


# The database counts, per offer and ring, the residents its alert was sent to and how far each
# went (a handful of rows a shop, however many were told).
_RING = case((_TOLD.subscriber_pk.is_(None), _TOLD.kept_ring), else_=_ring_of(_TOLD)).label("ring")
_COUNTED = select(
    _TOLD.offer_id,
    _RING,
    func.count().label("told"),
    _share(_stage(_TOLD, _opened_by(_TOLD), _TOLD.kept_opened)).label("opened"),
    _share(_stage(_TOLD, _reserved_by(_TOLD), _TOLD.kept_reserved)).label("reserved"),
    _share(_stage(_TOLD, _reserved_by(_TOLD, collected=True), _TOLD.kept_collected)).label("collected"),
).where(_TOLD.kind == PushKind.OFFER, _TOLD.status == PushStatus.SENT)


class FunnelQueries(OnSession):
    def push_to_resident(self, notification_id: int, subscriber_id: str) -> Any | None:
        """The push (its opened_at) if it was sent to this resident; None otherwise."""
        return self.session.execute(
            select(Notification.opened_at)
            .join(Subscriber, Subscriber.pk == Notification.subscriber_pk)
            .where(Notification.id == notification_id, Subscriber.id == subscriber_id)
        ).first()

    def mark_push_opened(self, notification_id: int, now: datetime) -> None:
        """Opened at `now`, unless it was already (the first time is kept)."""
        self.session.execute(update(Notification).where(Notification.id == notification_id, Notification.opened_at.is_(None))
                             .values(opened_at=now))

    def offers_posted_at_shop(self, shop_id: str) -> list[dict[str, Any]]:
        """The shop's offers, newest first: id, title, status, quantity, created_at, expires_at."""
        return [
            row._asdict()
            for row in self.session.execute(
                select(Offer.id, Offer.title, Offer.status, Offer.quantity, Offer.created_at, Offer.expires_at)
                .where(Offer.shop_id == shop_id)
                .order_by(Offer.created_at.desc(), Offer.id)
            )
        ]

    def funnel_counts_of_shop(self, shop_id: str) -> list[funnel.Counted]:
        """Per offer of the shop and distance ring, its sent alerts and how far each went: opened
        (the alert or a price drop), reserved, collected; an alert unlinked from its resident
        counts as it was kept then (keep_funnel_stages_of_alerts_before)."""
        of_shop = select(Offer.id).where(Offer.shop_id == shop_id).scalar_subquery()
        rows = self.session.execute(_COUNTED.where(_TOLD.offer_id.in_(of_shop)).group_by(_TOLD.offer_id, _RING)).all()
        return [
            funnel.Counted(row.offer_id, row.ring, funnel.Tally(row.told, int(row.opened), int(row.reserved), int(row.collected)))
            for row in rows
        ]

    def keep_funnel_stages_of_alerts_before(self, before: datetime) -> int:
        """Every sent offer alert made before `before` and still linked to its resident keeps
        what the funnel counts of it (its ring, whether it was opened, reserved, collected), to
        be counted the same once the link is cut. Its own statement: nothing is unlinked while
        it reads. Returns how many alerts it kept."""
        return self.session.execute(
            update(Notification)
            .where(Notification.created_at < before, Notification.subscriber_pk.is_not(None),
                   Notification.kind == PushKind.OFFER, Notification.status == PushStatus.SENT)
            .values(
                kept_ring=_ring_of(Notification), kept_opened=_opened_by(Notification),
                kept_reserved=_reserved_by(Notification), kept_collected=_reserved_by(Notification, collected=True),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
