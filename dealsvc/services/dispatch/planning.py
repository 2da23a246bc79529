"""Planning a wave: a due fan-out becomes the notifications of the residents it tells."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Integer, any_, bindparam, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from ...adapters.db import Database
from ...adapters.db.queries import Queries
from ...adapters.db.models import UTCDateTime, Fanout, Notification, Offer, PushBatch, Shop, Subscriber
from ...adapters.db.session import index_scans
from ...adapters.spatial import SubscriberIndex
from ...domain import geo, waves
from ...domain import offers as offer_rules
from ...domain.clock import Clock
from ...domain.outbox import FanoutKind, PushKind, PushStatus, price_kind
from ...domain.retention import TOKEN_STALE, token_stale_before
from ...observability import FANOUT_MATCH_SECONDS, PUSH_OUTCOMES
from ..followers import followers_in_reach
from ..rules import RulesService
from .outbox import INSERT_CHUNK, fanout_due, is_pg, new_batches
from .settings import DispatchSettings

log = logging.getLogger("dealsvc.services.dispatch")

# A wave's notifications, for the residents still active, once each (see _insert_notifications),
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


class WavePlanner:
    """Expands due fan-outs (an offer's waves, its price steps, its withdrawal) into the outbox."""

    def __init__(self, db: Database, clock: Clock, rules: RulesService, index: SubscriberIndex,
                 settings: DispatchSettings):
        self.db = db
        self.clock = clock
        self.rules = rules
        self.index = index
        self.settings = settings

    def expand_one(self) -> bool:
        """Turn one due fan-out into notifications. The fan-out is claimed first (its due_at
        moves a lease ahead, so a crashed dispatcher's fan-out falls due again), the audience
        is matched outside any transaction, and the notifications are written idempotently.

        An "offer" fan-out is one wave (domain/waves.py): the followers not told yet, then the
        nearest others, as many as the stock calls for; while residents in reach remain and
        the offer is live, it leaves the next wave due an interval later."""
        now = self.clock()
        with self.db.write() as s:
            fanout = s.scalar(
                select(Fanout)
                .where(fanout_due(now))
                .order_by(Fanout.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if fanout is None:
                return False
            fanout.due_at = now + self.settings.lease
            fanout_id, kind, seq = fanout.id, fanout.kind, fanout.seq
            offer, shop = s.execute(
                select(Offer, Shop).join(Shop, Offer.shop_id == Shop.id).where(Offer.id == fanout.offer_id)
            ).one()
            offer_id, live = offer.id, offer_rules.is_live(offer.status, offer.expires_at, now)
            if kind == FanoutKind.OFFER and live:
                held = waves.held_until(shop.opening_hours, shop.timezone, now, offer.expires_at)
                if held is not None:  # the shop is closed: this wave waits for it to open
                    fanout.due_at = held
                    return True
            rules = self.rules.current(Queries(s))
            told = self._told(s, offer_id) if kind == FanoutKind.OFFER and seq > 1 and live else set()
        chosen: list[tuple[int, float | None]] = []
        stale: list[tuple[int, float | None]] = []
        more = False
        if kind == FanoutKind.OFFER and live and offer.quantity_left > 0:
            chosen, more, stale = self._wave(offer, shop, rules, told, now)
        with self.db.write() as s:
            index_scans(s)
            fanout = s.get(Fanout, fanout_id, with_for_update=True)
            if fanout.done_at is not None:
                return True  # another dispatcher finished it after our claim ran out
            notification_kind = kind
            if kind == FanoutKind.WITHDRAW:
                # Everyone who was (or may have been) told gets the withdrawal.
                chosen = [(pk, None) for pk in self._told(s, offer_id, statuses=(PushStatus.SENT, PushStatus.SENDING))]
            elif kind == FanoutKind.PRICE:
                # Only residents who asked and hold an alert to update: those not told yet will
                # get the new price in their own alert. An ended offer tells nobody.
                audience_q = (
                    # With the alert's distance: the drop replaces that alert, from the same place.
                    select(Notification.subscriber_pk, Notification.distance_m)
                    .join(Subscriber, Subscriber.pk == Notification.subscriber_pk)
                    .where(
                        Notification.offer_id == offer_id,
                        Notification.kind == PushKind.OFFER,
                        Notification.status.in_((PushStatus.SENT, PushStatus.SENDING)),
                        # Not an alert still waiting in a batch no one has claimed: built when
                        # claimed, it will say the new price.
                        or_(Notification.batch_id.is_(None), Notification.batch_id.not_in(
                            select(PushBatch.id).where(PushBatch.attempts == 0))),
                        Subscriber.active.is_(True),
                        Subscriber.price_drops.is_(True),
                    )
                )
                chosen = [(pk, d) for pk, d in s.execute(audience_q)] if live else []
                notification_kind = price_kind(seq)
            matched = self._insert_notifications(s, offer_id, chosen, now, kind=notification_kind) if chosen else 0
            if stale:
                # In reach, but their app has not presented its token for long: not pushed to,
                # and recorded as such (the offer's figures count them dropped, by that reason).
                PUSH_OUTCOMES.labels(TOKEN_STALE).inc(self._insert_notifications(
                    s, offer_id, stale, now, status=PushStatus.DROPPED, reason=TOKEN_STALE))
            fanout.done_at = now
            fanout.matched = matched
            if more:
                s.add(Fanout(offer_id=offer_id, kind=FanoutKind.OFFER, seq=seq + 1, created_at=now,
                             due_at=now + timedelta(seconds=rules.wave_interval_s)))
            elif kind == FanoutKind.OFFER and not (live and offer.quantity_left > 0):
                # Ended or sold out when this wave began: if stock came back meanwhile, the
                # release saw this wave pending and planned none; the series goes on from here.
                again = s.execute(
                    select(Offer.status, Offer.expires_at, Offer.quantity_left).where(Offer.id == offer_id)
                ).one()
                if offer_rules.is_live(again.status, again.expires_at, now) and again.quantity_left > 0:
                    s.add(Fanout(offer_id=offer_id, kind=FanoutKind.OFFER, seq=seq + 1, created_at=now, due_at=now))
        log.info(
            "offer %s: %d residents to %s%s", offer_id, len(chosen),
            "tell it is gone" if kind == FanoutKind.WITHDRAW else f"tell ({kind} {seq})",
            ", more in the next wave" if more else "",
        )
        return True

    @staticmethod
    def _told(s, offer_id: str, statuses: tuple[str, ...] | None = None) -> set[int]:
        """The residents with an alert about the offer (in any state, or in `statuses`)."""
        q = select(Notification.subscriber_pk).where(Notification.offer_id == offer_id, Notification.kind == PushKind.OFFER)
        if statuses is not None:
            q = q.where(Notification.status.in_(statuses))
        return set(s.scalars(q))

    def _stale(self, pks: set[int], now: datetime) -> set[int]:
        """Those of `pks` (the residents in reach) whose app has not presented its token for long
        (domain/retention.py): looked up by key, so a wave reads its own residents, not every
        stale one of the city (a table scan per wave, about a tenth of a push's database time
        in the fan-out bench)."""
        keys = sorted(pks)
        stale: set[int] = set()
        with self.db.read() as s:
            index_scans(s)
            for start in range(0, len(keys), INSERT_CHUNK):
                chunk = keys[start : start + INSERT_CHUNK]
                among = (Subscriber.pk == any_(bindparam("pks", chunk, type_=ARRAY(Integer))) if is_pg(s)
                         else Subscriber.pk.in_(chunk))
                stale.update(s.scalars(select(Subscriber.pk).where(
                    among, Subscriber.active.is_(True), Subscriber.token_seen_at < token_stale_before(now))))
        return stale

    def _wave(self, offer, shop, rules, told: set[int], now: datetime):
        """The residents of the offer's next wave, as (key, distance), whether any in reach
        are left for a later one, and the residents in reach left out for a stale token (key,
        None). Without waves: everyone in reach, at once."""
        cap = rules.max_radius_m
        self.index.refresh()
        with FANOUT_MATCH_SECONDS.time():
            reached = self.index.nearest(shop.lat, shop.lon, cap, offer.category, at=now)
        with self.db.read() as s:
            followers_all = [f for f in followers_in_reach(Queries(s), shop.id, shop.lat, shop.lon, cap, now) if f[0] not in told]
        stale = self._stale((set(reached.pk.tolist()) - told) | {pk for pk, _ in followers_all}, now)
        followers = [f for f in followers_all if f[0] not in stale]
        left_out = told | stale
        fresh = np.arange(len(reached))
        if left_out:
            fresh = fresh[~np.isin(reached.pk, np.fromiter(left_out, dtype=np.int64, count=len(left_out)))]
        stale_reached = sorted(stale)
        # Positions stand in for distances while picking; the distance shown (rounded like
        # the deals listing) is worked out only for the residents picked.
        nearest = list(zip(reached.pk[fresh].tolist(), fresh.tolist()))
        size = waves.wave_size(rules.wave_factor, offer.quantity_left) if rules.waves_enabled else None
        picked = waves.pick(nearest, followers, size)
        follower_distance = dict(followers)
        # The others' distances in one pass over the arrays (geo.distances_shown_m: the same values).
        others = [i for pk, i in picked if pk not in follower_distance]
        shown = iter(geo.distances_shown_m(shop.lat, shop.lon, reached.lat[others], reached.lon[others]))
        chosen = [(pk, follower_distance[pk]) if pk in follower_distance else (pk, next(shown)) for pk, i in picked]
        in_reach = len(follower_distance.keys() | set(reached.pk[fresh].tolist())) if follower_distance else len(nearest)
        return chosen, size is not None and len(chosen) < in_reach, [(pk, None) for pk in stale_reached]

    def _insert_notifications(
        self, s, offer_id: str, chosen: list[tuple[int, float | None]], now: datetime, kind: str = PushKind.OFFER,
        status: str = PushStatus.SENDING, reason: str | None = None,
    ) -> int:
        """Idempotent (a fan-out taken over after a crash inserts nothing twice), for residents
        still active in the database (the index may lag a deletion), each with the distance the
        wave measured (None: worked out when the push is built). Returns the rows inserted.

        Pushes to go are written 'sending', in batches of the dispatcher's batch size
        (push_batches, in the order chosen: the nearest first), which the dispatchers claim whole;
        rows written in another `status` (not to be pushed: `reason` says why) wait in none."""
        inserted = 0
        waiting = status == PushStatus.SENDING
        size = self.settings.batch_size
        batches = new_batches(s, -(-len(chosen) // size), now) if waiting else []
        for start in range(0, len(chosen), INSERT_CHUNK):
            chunk = chosen[start : start + INSERT_CHUNK]
            params = {
                "offer_id": offer_id, "kind": kind, "now": now, "status": str(status), "reason": reason,
                "pks": [pk for pk, _ in chunk], "distances": [d for _, d in chunk],
                "batches": [batches[i // size] if waiting else None for i in range(start, start + len(chunk))],
            }
            if is_pg(s):
                inserted += s.execute(_PG_NOTIFY, params).rowcount
            else:
                inserted += s.execute(
                    _SQLITE_NOTIFY,
                    [{**params, "pk": pk, "distance": d, "batch": b} for (pk, d), b in zip(chunk, params["batches"])],
                ).rowcount
        return inserted
