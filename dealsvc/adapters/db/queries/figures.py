"""The figures of the pages: a shop's followers, the waves its offers went out in, and the
operator's live counts (services/figures.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import func, select

from ....domain import offers as offer_rules
from ....domain.outbox import FanoutKind, PushKind, PushStatus
from ..models import Fanout, Favorite, Notification, Offer, Subscriber
from .base import OnSession


class FigureQueries(OnSession):
    def count_active_followers(self, shop_id: str) -> int:
        """How many active residents follow the shop."""
        return self.session.scalar(
            select(func.count())
            .select_from(Favorite)
            .join(Subscriber, Subscriber.pk == Favorite.subscriber_pk)
            .where(Favorite.shop_id == shop_id, Subscriber.active.is_(True))
        )

    def offer_waves_of(self, offer_ids: Sequence[str]) -> list[Any]:
        """The offers' waves (their fan-outs of kind offer), by offer then wave: each with
        offer_id, seq, matched, done_at (None: not done yet) and due_at."""
        return list(self.session.execute(
            select(Fanout.offer_id, Fanout.seq, Fanout.matched, Fanout.done_at, Fanout.due_at)
            .where(Fanout.offer_id.in_(list(offer_ids)), Fanout.kind == FanoutKind.OFFER)
            .order_by(Fanout.offer_id, Fanout.seq)
        ).all())

    def count_live_offers(self, now: datetime) -> int:
        """Offers active and not expired at `now`."""
        return self.session.scalar(
            select(func.count())
            .select_from(Offer)
            .where(Offer.status == offer_rules.ACTIVE, Offer.expires_at > now)
        )

    def count_offer_pushes_sent_since(self, since: datetime) -> int:
        return self.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.kind == PushKind.OFFER, Notification.status == PushStatus.SENT, Notification.sent_at >= since)
        )

    def offer_pushes_failed_or_suppressed_since(self, since: datetime) -> dict[str, int]:
        """How many offer pushes failed and were suppressed ({status: count}, absent: none),
        counted by when they were queued (such a push keeps no time of its outcome)."""
        return dict(self.session.execute(
            select(Notification.status, func.count())
            .where(Notification.kind == PushKind.OFFER, Notification.status.in_([PushStatus.FAILED, PushStatus.SUPPRESSED]),
                   Notification.created_at >= since)
            .group_by(Notification.status)
        ).all())

    def count_residents_deactivated_since(self, since: datetime) -> int:
        """Residents inactive but not unsubscribed, last changed since `since`."""
        return self.session.scalar(
            select(func.count())
            .select_from(Subscriber)
            .where(Subscriber.active.is_(False), Subscriber.deleted_at.is_(None), Subscriber.updated_at >= since)
        )

    def count_active_residents(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Subscriber).where(Subscriber.active.is_(True)))
