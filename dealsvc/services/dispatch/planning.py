"""Planning a wave: a due fan-out becomes the notifications of the residents it tells."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import numpy as np

from ...adapters.spatial import SubscriberIndex
from ...domain import geo, waves
from ...domain import offers as offer_rules
from ...domain.clock import Clock
from ...domain.outbox import FanoutKind, PushKind, PushStatus, price_kind
from ...domain.retention import TOKEN_STALE, token_stale_before
from ...observability import FANOUT_MATCH_SECONDS, PUSH_OUTCOMES
from ..followers import followers_in_reach
from ..ports import Transactions
from ..rules import RulesService
from .ports import Outbox
from .settings import DispatchSettings

log = logging.getLogger("dealsvc.services.dispatch")


class WavePlanner:
    """Expands due fan-outs (an offer's waves, its price steps, its withdrawal) into the outbox."""

    def __init__(self, store: Transactions[Outbox], clock: Clock, rules: RulesService, index: SubscriberIndex,
                 settings: DispatchSettings):
        self.store = store
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
        with self.store.write() as q:
            fanout = q.take_due_fanout(now)
            if fanout is None:
                return False
            q.postpone_fanout(fanout, now + self.settings.lease)
            fanout_id, kind, seq = fanout.id, fanout.kind, fanout.seq
            offer, shop = q.offer_with_shop(fanout.offer_id)
            offer_id, live = offer.id, offer_rules.is_live(offer.status, offer.expires_at, now)
            if kind == FanoutKind.OFFER and live:
                held = waves.held_until(shop.opening_hours, shop.timezone, now, offer.expires_at)
                if held is not None:  # the shop is closed: this wave waits for it to open
                    q.postpone_fanout(fanout, held)
                    return True
            rules = self.rules.current(q)
            told = q.told(offer_id) if kind == FanoutKind.OFFER and seq > 1 and live else set()
        chosen: list[tuple[int, float | None]] = []
        stale: list[tuple[int, float | None]] = []
        more = False
        if kind == FanoutKind.OFFER and live and offer.quantity_left > 0:
            chosen, more, stale = self._wave(offer, shop, rules, told, now)
        with self.store.write() as q:
            q.index_scans()
            fanout = q.lock_fanout(fanout_id)
            if fanout.done_at is not None:
                return True  # another dispatcher finished it after our claim ran out
            notification_kind = kind
            if kind == FanoutKind.WITHDRAW:
                # Everyone who was (or may have been) told gets the withdrawal.
                chosen = [(pk, None) for pk in q.told(offer_id, statuses=(PushStatus.SENT, PushStatus.SENDING))]
            elif kind == FanoutKind.PRICE:
                # Only residents who asked and hold an alert to update: those not told yet will
                # get the new price in their own alert (not one still waiting in a batch no one
                # has claimed: built when claimed, it will say the new price), each with the
                # alert's distance (the drop replaces that alert, from the same place). An
                # ended offer tells nobody.
                chosen = q.price_drop_audience(offer_id) if live else []
                notification_kind = price_kind(seq)
            matched = self._insert_notifications(q, offer_id, chosen, now, kind=notification_kind) if chosen else 0
            if stale:
                # In reach, but their app has not presented its token for long: not pushed to,
                # and recorded as such (the offer's figures count them dropped, by that reason).
                PUSH_OUTCOMES.labels(TOKEN_STALE).inc(self._insert_notifications(
                    q, offer_id, stale, now, status=PushStatus.DROPPED, reason=TOKEN_STALE))
            q.fanout_done(fanout, now, matched)
            if more:
                q.plan_fanout(offer_id, FanoutKind.OFFER, seq + 1, now, now + timedelta(seconds=rules.wave_interval_s))
            elif kind == FanoutKind.OFFER and not (live and offer.quantity_left > 0):
                # Ended or sold out when this wave began: if stock came back meanwhile, the
                # release saw this wave pending and planned none; the series goes on from here.
                again = q.offer_stock(offer_id)
                if offer_rules.is_live(again.status, again.expires_at, now) and again.quantity_left > 0:
                    q.plan_fanout(offer_id, FanoutKind.OFFER, seq + 1, now, now)
        log.info(
            "offer %s: %d residents to %s%s", offer_id, len(chosen),
            "tell it is gone" if kind == FanoutKind.WITHDRAW else f"tell ({kind} {seq})",
            ", more in the next wave" if more else "",
        )
        return True

    def _stale(self, pks: set[int], now: datetime) -> set[int]:
        """Those of `pks` (the residents in reach) whose app has not presented its token for long
        (domain/retention.py): looked up by key, so a wave reads its own residents, not every
        stale one of the city (a table scan per wave, about a tenth of a push's database time
        in the fan-out bench)."""
        with self.store.read() as q:
            q.index_scans()
            return q.stale_tokens(sorted(pks), token_stale_before(now))

    def _wave(self, offer, shop, rules, told: set[int], now: datetime):
        """The residents of the offer's next wave, as (key, distance), whether any in reach
        are left for a later one, and the residents in reach left out for a stale token (key,
        None). Without waves: everyone in reach, at once."""
        cap = rules.max_radius_m
        self.index.refresh()
        with FANOUT_MATCH_SECONDS.time():
            reached = self.index.nearest(shop.lat, shop.lon, cap, offer.category, at=now)
        with self.store.read() as q:
            followers_all = [f for f in followers_in_reach(q, shop.id, shop.lat, shop.lon, cap, now) if f[0] not in told]
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
        self, q: Outbox, offer_id: str, chosen: list[tuple[int, float | None]], now: datetime, kind: str = PushKind.OFFER,
        status: str = PushStatus.SENDING, reason: str | None = None,
    ) -> int:
        """Idempotent (a fan-out taken over after a crash inserts nothing twice), for residents
        still active in the database (the index may lag a deletion), each with the distance the
        wave measured (None: worked out when the push is built). Returns the rows inserted.

        Pushes to go are written 'sending', in batches of the dispatcher's batch size
        (push_batches, in the order chosen: the nearest first), which the dispatchers claim whole;
        rows written in another `status` (not to be pushed: `reason` says why) wait in none."""
        size = self.settings.batch_size
        if status == PushStatus.SENDING:
            batches = q.new_batches(-(-len(chosen) // size), now)
            batch_of = [batches[i // size] for i in range(len(chosen))]
        else:
            batch_of = [None] * len(chosen)
        return q.insert_notifications(offer_id, kind, now, status, reason, chosen, batch_of)
