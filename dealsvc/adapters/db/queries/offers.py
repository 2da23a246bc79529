"""Offers: read, posted, changed, and the figures of what became of them."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select

from ....domain import geo
from ....domain import offers as offer_rules
from ....domain.outbox import PRICE_PREFIX, PushKind, PushStatus
from ....domain.reservations import EXPIRED as EXPIRED_HOLD, HELD
from ..models import Notification, Offer, Reservation, Shop
from .base import OnSession


class OfferQueries(OnSession):
    def offer(self, offer_id: str, *, lock: bool = False) -> Offer | None:
        """`lock`: waits for the row, held until the transaction ends."""
        if lock:
            return self.session.scalar(select(Offer).where(Offer.id == offer_id).with_for_update())
        return self.session.get(Offer, offer_id)

    def offers_locked_skipping_locked(self, offer_ids: list[str]) -> list[Offer]:
        """These offers locked, in key order (the order every path locks offers in); those
        another transaction holds are left out."""
        return list(self.session.scalars(
            select(Offer).where(Offer.id.in_(offer_ids)).order_by(Offer.id).with_for_update(skip_locked=True)
        ).all())

    def merchants_offer(self, merchant_id: str, offer_id: str, *, lock: bool = False) -> Offer | None:
        """The offer, if one of the merchant's shops posted it; `lock`: its row (not the shop's)."""
        q = select(Offer).join(Shop).where(Offer.id == offer_id, Shop.merchant_id == merchant_id)
        if lock:
            q = q.with_for_update(of=Offer)
        return self.session.scalar(q)

    def offers_of_shop(self, shop_id: str) -> list[Offer]:
        """The shop's offers, the newest first."""
        return list(self.session.scalars(select(Offer).where(Offer.shop_id == shop_id).order_by(Offer.created_at.desc())))

    def add_offer(self, **columns: Any) -> Offer:
        """A new offer row (flushed: the rows that name it may follow)."""
        offer = Offer(**columns)
        self.session.add(offer)
        self.session.flush()
        return offer

    def live_offers_in_box(self, box: geo.Box, now: datetime, category: str | None) -> list[tuple[Offer, Shop]]:
        """Active, unexpired offers (of `category`, if given) of the shops inside the box, with their shops."""
        q = (
            select(Offer, Shop)
            .join(Shop, Offer.shop_id == Shop.id)
            .where(
                Offer.status == offer_rules.ACTIVE,
                Offer.expires_at > now,
                Shop.lat.between(box.min_lat, box.max_lat),
                Shop.lon.between(box.min_lon, box.max_lon),
            )
        )
        if category:
            q = q.where(Offer.category == category)
        return [(offer, shop) for offer, shop in self.session.execute(q)]

    def offer_push_counts(self, offer_id: str) -> dict[str, int]:
        """The offer's alerts (not its price drops or withdrawals), by status."""
        return dict(
            self.session.execute(
                select(Notification.status, func.count())
                .where(Notification.offer_id == offer_id, Notification.kind == PushKind.OFFER)
                .group_by(Notification.status)
            ).all()
        )

    def offer_openers(self, offer_id: str) -> int:
        """Residents who opened an alert or a price drop of the offer (services/funnel.py)."""
        return self.session.scalar(
            select(func.count(Notification.subscriber_pk.distinct())).where(
                Notification.offer_id == offer_id,
                Notification.kind != PushKind.WITHDRAW,
                Notification.opened_at.is_not(None),
            )
        )

    def offer_price_drops_sent(self, offer_id: str) -> int:
        return self.session.scalar(
            select(func.count()).where(
                Notification.offer_id == offer_id,
                Notification.kind.like(f"{PRICE_PREFIX}%"),
                Notification.status == PushStatus.SENT,
            )
        )

    def offer_held_quantities(self, offer_id: str, now: datetime) -> dict[str, int]:
        """The quantity of the offer's holds by status; a hold past its time counts as expired
        before the scheduler has written it down."""
        status = case(
            (and_(Reservation.status == HELD, Reservation.expires_at <= now), EXPIRED_HOLD),
            else_=Reservation.status,
        ).label("hold_status")
        return dict(
            self.session.execute(
                select(status, func.sum(Reservation.quantity))
                .where(Reservation.offer_id == offer_id)
                .group_by(status.name)
            ).all()
        )

    # price steps

    def offers_with_step_due(self, now: datetime, limit: int) -> list[str]:
        """Ids of live offers whose next price step is due, the longest due first. Only offers
        with a step due are read, through ix_offers_next_step_at (ended offers have none).
        `status || ''` keeps the planners off ix_offers_status_expires_at, which SQLite
        otherwise prefers and which would walk every live offer."""
        return list(self.session.scalars(
            select(Offer.id)
            .where(
                Offer.next_step_at <= now,
                Offer.status.concat("") == offer_rules.ACTIVE,
                Offer.expires_at > now,
            )
            .order_by(Offer.next_step_at)
            .limit(limit)
        ).all())

    def offer_with_step_due(self, offer_id: str, now: datetime) -> Offer | None:
        """The offer, locked, if it is live and its next step is due; None too when another
        transaction holds its row (its owner's change: the step waits for the next run)."""
        return self.session.scalar(
            select(Offer)
            .where(
                Offer.id == offer_id,
                Offer.next_step_at <= now,
                Offer.status == offer_rules.ACTIVE,
                Offer.expires_at > now,
            )
            .with_for_update(skip_locked=True)
        )

    # photos

    def photo_names_shown(self, names: set[str]) -> set[str]:
        """Which of these file names some offer shows (as its photo or its thumbnail)."""
        shown = set(self.session.scalars(select(Offer.photo).where(Offer.photo.in_(names))))
        return shown | set(self.session.scalars(select(Offer.thumbnail).where(Offer.thumbnail.in_(names))))
