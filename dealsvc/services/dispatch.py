"""The push dispatcher: expands fan-outs into notifications, applies the audience rules, sends
through the push gateway and records every outcome.

A notification moves pending -> sending -> sent | failed | suppressed | dropped. Claiming a
batch marks it `sending` with a lease and commits before anything is sent, so a crashed
dispatcher's batch is claimed again once the lease runs out: a crash costs at most the batches
it held (one per lane) of duplicates, never a lost push. While a batch is on the wire a
heartbeat renews the lease of exactly the rows its claim still holds, so a slow FCM never lets
another lane take a batch that is still being sent. On PostgreSQL several dispatchers claim side by side with
FOR UPDATE SKIP LOCKED; on SQLite the write lock serializes them.

A push is retried (capped exponential backoff, full jitter, FCM's Retry-After up to the cap) for
as long as it can still be useful: an offer's alert or price drop until the offer ends (the
claim drops it then), a withdrawal for its own TTL. Only a permanent answer (a dead token, a
message FCM refuses) ends it early. When FCM fails for everyone the circuit breaker
(push_breaker.py) pauses the claims and the batch's pushes go back unspent.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

import numpy as np
from sqlalchemy import and_, bindparam, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from ..adapters.catalogues import translations
from ..adapters.db import Database
from ..adapters.db.models import UTCDateTime
from ..adapters.db.models import Fanout, Notification, Offer, PushQuota, Shop, Subscriber
from ..adapters.spatial import SubscriberIndex
from ..adapters.push import AUTH_FAILED, DEAD_TOKEN, RETRY, SENT, UNSENT, PushGateway, PushMessage, PushResult
from ..domain import audience, delivery, geo, waves
from ..domain import offers as offer_rules
from ..domain.clock import Clock
from ..observability import FANOUT_MATCH_SECONDS, PUSH_OUTCOMES
from .followers import followers_in_reach
from .outage import Outage
from .push_breaker import BatchGate, Breaker, BreakerSettings
from .rules import RulesService

log = logging.getLogger(__name__)

PENDING, SENDING = "pending", "sending"
DONE_SENT, FAILED, SUPPRESSED, DROPPED = "sent", "failed", "suppressed", "dropped"
PRICE_PREFIX = "price-"  # notifications.kind of the push about price step n: "price-<n>"
_INSERT_CHUNK = 2000
_NOTIFICATIONS = Notification.__table__
_CLAIMED_SHAPE = ("attempts", "distance_m", "lease_until", "nid", "status")
WITHDRAWAL_MIN_TTL = timedelta(hours=1)
# PostgreSQL: a whole batch's per-row values in one statement, as arrays.
_PG_CLAIM = text(
    "UPDATE notifications AS n SET status = 'sending', lease_until = :lease, attempts = v.attempts, "
    "distance_m = v.distance_m FROM unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[]), "
    "CAST(:distances AS double precision[])) AS v(id, attempts, distance_m) WHERE n.id = v.id"
)
_PG_DELIVERED = text(
    "UPDATE notifications AS n SET status = 'sent', reason = NULL, fcm_message_id = v.mid, sent_at = :now, "
    "lease_until = NULL, sent_by = :by FROM unnest(CAST(:ids AS integer[]), CAST(:mids AS varchar[])) "
    "AS v(id, mid) WHERE n.id = v.id AND n.status IN ('sending', 'pending')"
)

# The heartbeat: the lease of the rows a claim still holds (a takeover changed status or attempts).
# Rows locked by anyone else (the lane recording this very batch) are skipped, not waited for: the
# heartbeat never waits on a lock, so it can never be one side of a deadlock.
_PG_RENEW = text(
    "UPDATE notifications AS n SET lease_until = :lease WHERE n.id IN (SELECT m.id FROM notifications AS m "
    "JOIN unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[])) AS v(id, attempts) "
    "ON m.id = v.id AND m.attempts = v.attempts WHERE m.status = 'sending' FOR UPDATE OF m SKIP LOCKED)"
)
_SQLITE_RENEW = text(
    "UPDATE notifications SET lease_until = :lease WHERE id = :nid AND attempts = :attempts AND status = 'sending'"
).bindparams(bindparam("lease", type_=UTCDateTime))

_PG_QUOTA_ROWS = text(
    "INSERT INTO push_quota (subscriber_pk, day, count) SELECT pk, day, 0 FROM "
    "unnest(CAST(:pks AS integer[]), CAST(:days AS varchar[])) AS v(pk, day) ON CONFLICT DO NOTHING"
)
_PG_QUOTA_COUNTS = text(
    "UPDATE push_quota AS q SET count = v.count FROM unnest(CAST(:pks AS integer[]), "
    "CAST(:days AS varchar[]), CAST(:counts AS integer[])) AS v(pk, day, count) "
    "WHERE q.subscriber_pk = v.pk AND q.day = v.day"
)

# A wave's notifications, for the residents still active, once each (see _insert_notifications).
_PG_NOTIFY = text(
    "INSERT INTO notifications (offer_id, subscriber_pk, kind, status, due_at, attempts, created_at, distance_m) "
    "SELECT :offer_id, v.pk, :kind, 'pending', :now, 0, :now, v.distance FROM unnest(CAST(:pks AS integer[]), "
    "CAST(:distances AS double precision[])) AS v(pk, distance) JOIN subscribers AS s ON s.pk = v.pk AND s.active "
    "ON CONFLICT (offer_id, subscriber_pk, kind) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime))
_SQLITE_NOTIFY = text(
    "INSERT INTO notifications (offer_id, subscriber_pk, kind, status, due_at, attempts, created_at, distance_m) "
    "SELECT :offer_id, pk, :kind, 'pending', :now, 0, :now, :distance FROM subscribers WHERE pk = :pk AND active "
    "ON CONFLICT (offer_id, subscriber_pk, kind) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime))


def _is_pg(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _naive_utc(moment: datetime) -> datetime:
    """As UTCDateTime stores it (text() statements bypass the column type)."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class DispatchSettings:
    batch_size: int = 100
    lease: timedelta = timedelta(seconds=60)
    # A push's retries: capped exponential backoff with full jitter (no cap on their number).
    backoff_base_s: float = 2.0
    backoff_max_s: float = 900.0
    # Batches worked on side by side in one process: while one lane waits for FCM, another
    # claims or records in the database.
    lanes: int = 2
    breaker: BreakerSettings = BreakerSettings()
    # The longest sleep between tries while the database is away.
    db_backoff_max_s: float = 10.0
    # The service's public address (DEALSVC_PUBLIC_URL): a tap on a web push opens the offer's
    # page there (https only; None: no link).
    public_url: str | None = None


def _insert(session):
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)


def backoff_s(attempts: int, settings: DispatchSettings, retry_after: float | None, rng=random.random) -> float:
    """Capped exponential backoff with full jitter (uniform below the step), never before FCM's
    Retry-After, which is itself capped at backoff_max_s: an absurd or unreadable value neither
    overflows nor parks a push past its usefulness."""
    step = min(settings.backoff_max_s, settings.backoff_base_s * 2.0 ** min(max(0, attempts - 1), 64))
    wait = retry_after if retry_after is not None and math.isfinite(retry_after) and retry_after > 0 else 0.0
    return max(step * rng(), min(wait, settings.backoff_max_s))


@dataclass
class _Claimed:
    notification_id: int
    subscriber_pk: int
    day: str | None  # the local day whose quota it counts against; None: not counted
    message: PushMessage
    attempts: int


class _LeaseKept:
    def __init__(self, dispatcher: "Dispatcher", rows: list[tuple[int, int]]):
        self.dispatcher = dispatcher
        self.rows = rows

    def __enter__(self) -> "_LeaseKept":
        d = self.dispatcher
        with d._in_flight_lock:
            d._in_flight[id(self)] = (time.monotonic(), self.rows)
            if d._heartbeat is None:
                d._heartbeat = threading.Thread(target=d._beat, name="dispatch-lease-heartbeat", daemon=True)
                d._heartbeat.start()
        return self

    def __exit__(self, *_exc) -> bool:
        d = self.dispatcher
        with d._in_flight_lock:
            d._in_flight.pop(id(self), None)
        return False


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
        self.breaker = Breaker(clock, self.settings.breaker)
        self.outage = Outage("dispatcher", log, max_s=self.settings.db_backoff_max_s)
        # Set when the dispatcher is to stop: no send starts after that (run_forever's event).
        self.stopping = threading.Event()
        # The claims on the wire, renewed by the heartbeat: id -> (when registered, rows).
        self._in_flight: dict[int, tuple[float, list[tuple[int, int]]]] = {}
        self._in_flight_lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None

    @property
    def name(self) -> str:
        """This dispatcher process, as recorded in notifications.sent_by (read at each use: a
        process may have forked since the dispatcher was built)."""
        return f"{socket.gethostname()}:{os.getpid()}"[:100]

    # --- the loop ----------------------------------------------------------------------

    def run_once(self) -> int:
        """Expand the due fan-outs, then send one batch. Returns how much work was done."""
        work = 0
        while self.expand_one():
            work += 1
        work += self.send_batch()
        return work

    def run_forever(self, stop: threading.Event, idle_s: float = 0.25) -> None:
        """Run the loop in `lanes` threads until `stop` is set; each lane finishes the batch it
        holds before it returns (what it had not sent yet goes back to the outbox)."""
        self.stopping = stop
        try:
            self.index.refresh()  # built before the first offer needs it, not during it
        except Exception:
            log.exception("could not build the subscriber index yet; the first fan-out will")
        log.info("dispatcher ready: %d lanes of %d pushes", max(1, self.settings.lanes), self.settings.batch_size)
        lanes = [
            threading.Thread(target=self._lane, args=(stop, idle_s), name=f"dispatch-lane-{i}", daemon=True)
            for i in range(1, max(1, self.settings.lanes))
        ]
        for lane in lanes:
            lane.start()
        self._lane(stop, idle_s)
        for lane in lanes:
            lane.join()

    def _lane(self, stop: threading.Event, idle_s: float) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception as error:  # keep the loop alive; the outbox keeps the work
                # One line when an outage starts, one when it ends, a growing sleep between.
                stop.wait(self.outage.failed(error))
                continue
            self.outage.succeeded()
            if not busy:
                stop.wait(idle_s)

    # --- fan-out -----------------------------------------------------------------------

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
                .where(Fanout.done_at.is_(None), Fanout.due_at <= now)
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
            rules = self.rules.current(s)
            told = self._told(s, offer_id) if kind == "offer" and seq > 1 and live else set()
        chosen: list[tuple[int, float | None]] = []
        more = False
        if kind == "offer" and live and offer.quantity_left > 0:
            chosen, more = self._wave(offer, shop, rules, told, now)
        with self.db.write() as s:
            fanout = s.get(Fanout, fanout_id, with_for_update=True)
            if fanout.done_at is not None:
                return True  # another dispatcher finished it after our claim ran out
            notification_kind = kind
            if kind == "withdraw":
                # Everyone who was (or may have been) told gets the withdrawal.
                chosen = [(pk, None) for pk in self._told(s, offer_id, statuses=(DONE_SENT, SENDING))]
            elif kind == "price":
                # Only residents who asked and hold an alert to update: those not told yet will
                # get the new price in their own alert. An ended offer tells nobody.
                audience_q = (
                    # With the alert's distance: the drop replaces that alert, from the same place.
                    select(Notification.subscriber_pk, Notification.distance_m)
                    .join(Subscriber, Subscriber.pk == Notification.subscriber_pk)
                    .where(
                        Notification.offer_id == offer_id,
                        Notification.kind == "offer",
                        Notification.status.in_((DONE_SENT, SENDING)),
                        Subscriber.active.is_(True),
                        Subscriber.price_drops.is_(True),
                    )
                )
                chosen = [(pk, d) for pk, d in s.execute(audience_q)] if live else []
                notification_kind = f"{PRICE_PREFIX}{seq}"
            matched = self._insert_notifications(s, offer_id, chosen, now, kind=notification_kind) if chosen else 0
            fanout.done_at = now
            fanout.matched = matched
            if more:
                s.add(Fanout(offer_id=offer_id, kind="offer", seq=seq + 1, created_at=now,
                             due_at=now + timedelta(seconds=rules.wave_interval_s)))
            elif kind == "offer" and not (live and offer.quantity_left > 0):
                # Ended or sold out when this wave began: if stock came back meanwhile, the
                # release saw this wave pending and planned none; the series goes on from here.
                again = s.execute(
                    select(Offer.status, Offer.expires_at, Offer.quantity_left).where(Offer.id == offer_id)
                ).one()
                if offer_rules.is_live(again.status, again.expires_at, now) and again.quantity_left > 0:
                    s.add(Fanout(offer_id=offer_id, kind="offer", seq=seq + 1, created_at=now, due_at=now))
        log.info(
            "offer %s: %d residents to %s%s", offer_id, len(chosen),
            "tell it is gone" if kind == "withdraw" else f"tell ({kind} {seq})",
            ", more in the next wave" if more else "",
        )
        return True

    @staticmethod
    def _told(s, offer_id: str, statuses: tuple[str, ...] | None = None) -> set[int]:
        """The residents with an alert about the offer (in any state, or in `statuses`)."""
        q = select(Notification.subscriber_pk).where(Notification.offer_id == offer_id, Notification.kind == "offer")
        if statuses is not None:
            q = q.where(Notification.status.in_(statuses))
        return set(s.scalars(q))

    def _wave(self, offer, shop, rules, told: set[int], now: datetime) -> tuple[list[tuple[int, float]], bool]:
        """The residents of the offer's next wave, as (key, distance), and whether any in reach
        are left for a later one. Without waves: everyone in reach, at once."""
        cap = rules.max_radius_m
        self.index.refresh()
        with FANOUT_MATCH_SECONDS.time():
            reached = self.index.nearest(shop.lat, shop.lon, cap, offer.category, at=now)
        followers = [
            f for f in followers_in_reach(self.db, shop.id, shop.lat, shop.lon, cap, now) if f[0] not in told
        ]
        fresh = np.arange(len(reached))
        if told:
            fresh = fresh[~np.isin(reached.pk, np.fromiter(told, dtype=np.int64, count=len(told)))]
        # Positions stand in for distances while picking; the distance shown (rounded like
        # the deals listing) is worked out only for the residents picked.
        nearest = list(zip(reached.pk[fresh].tolist(), fresh.tolist()))
        size = waves.wave_size(rules.wave_factor, offer.quantity_left) if rules.waves_enabled else None
        picked = waves.pick(nearest, followers, size)
        follower_distance = dict(followers)
        chosen = [
            (pk, follower_distance[pk]) if pk in follower_distance
            else (pk, geo.distance_shown_m(shop.lat, shop.lon, float(reached.lat[i]), float(reached.lon[i])))
            for pk, i in picked
        ]
        in_reach = len(follower_distance.keys() | set(reached.pk[fresh].tolist())) if follower_distance else len(nearest)
        return chosen, size is not None and len(chosen) < in_reach

    def _insert_notifications(
        self, s, offer_id: str, chosen: list[tuple[int, float | None]], now: datetime, kind: str = "offer"
    ) -> int:
        """Idempotent (a fan-out taken over after a crash inserts nothing twice), for residents
        still active in the database (the index may lag a deletion), each with the distance the
        wave measured (None: worked out when the push is built). Returns the rows inserted."""
        inserted = 0
        for start in range(0, len(chosen), _INSERT_CHUNK):
            chunk = chosen[start : start + _INSERT_CHUNK]
            params = {
                "offer_id": offer_id, "kind": kind, "now": now,
                "pks": [pk for pk, _ in chunk], "distances": [d for _, d in chunk],
            }
            if _is_pg(s):
                inserted += s.execute(_PG_NOTIFY, params).rowcount
            else:
                inserted += s.execute(
                    _SQLITE_NOTIFY,
                    [{**params, "pk": pk, "distance": d} for pk, d in chunk],
                ).rowcount
        return inserted

    # --- sending -----------------------------------------------------------------------

    def send_batch(self) -> int:
        if self.stopping.is_set():
            return 0
        limit, probe = self.breaker.admit(self.settings.batch_size)
        if not limit:
            return 0  # FCM fails for everyone: nothing is claimed until the breaker's pause ends
        gate: BatchGate | None = None
        try:
            claimed = self._claim(self.clock(), limit)
            if not claimed:
                if probe:
                    # Nothing to probe with: FCM is not known to be back, so the breaker stays
                    # open (the next due push is the probe) and its pause keeps growing.
                    self.breaker.probe_abandoned()
                return 0
            gate = self.breaker.gate(len(claimed), probe, self.stopping)
            with self._lease_kept(claimed):
                results = self.gateway.send([c.message for c in claimed], gate)
                self._record_surely(claimed, results, gate)
            if probe:
                self.breaker.probe_done(gate.tripped)
        except BaseException:
            if probe:
                self.breaker.probe_abandoned()
            raise
        log.debug("sent batch of %d", sum(1 for r in results if r.outcome == SENT))
        return len(claimed)

    def _record_surely(self, claimed: list[_Claimed], results: list[PushResult], gate: BatchGate) -> None:
        """Record the answers, waiting out a database outage: what FCM accepted is recorded
        sent, not left to a takeover that would send it again. Given up only when stopping
        (the rows stay claimed; the lease hands them over)."""
        while True:
            try:
                self._record(claimed, results, gate)
                return
            except DBAPIError as error:
                if self.stopping.is_set():
                    raise
                self.stopping.wait(self.outage.failed(error))

    # --- the lease heartbeat -----------------------------------------------------------

    def _lease_kept(self, claimed: list[_Claimed]) -> "_LeaseKept":
        """Registers the claim with the heartbeat while the batch is on the wire and recorded."""
        return _LeaseKept(self, [(c.notification_id, c.attempts) for c in claimed])

    def _beat(self) -> None:
        """Every third of a lease, extend the lease of the rows of every batch that has been on
        the wire for more than a sixth of one: exactly the rows each claim still holds
        (status 'sending' with the claim's attempts). One statement for all of them; a batch that
        FCM answers quickly is never touched."""
        interval = max(self.settings.lease.total_seconds() / 3, 0.05)
        while True:
            time.sleep(interval)
            horizon = time.monotonic() - interval / 2
            with self._in_flight_lock:
                rows = [row for since, held in self._in_flight.values() if since <= horizon for row in held]
            if not rows:
                continue
            try:
                self._renew(rows, self.clock() + self.settings.lease)
            except Exception as error:  # the database away: the lanes tell the outage
                log.debug("lease renewal failed: %s", type(error).__name__)

    def _renew(self, rows: list[tuple[int, int]], lease: datetime) -> None:
        with self.db.write() as s:
            if _is_pg(s):
                s.execute(_PG_RENEW, {"lease": _naive_utc(lease), "ids": [nid for nid, _ in rows],
                                      "attempts": [attempts for _, attempts in rows]})
            else:
                s.execute(_SQLITE_RENEW, [{"lease": lease, "nid": nid, "attempts": attempts} for nid, attempts in rows])

    def _claim(self, now: datetime, limit: int | None = None) -> list[_Claimed]:
        """Take the next due notifications, decide each (send now, defer, suppress, drop) and
        count the ones that go against their resident's daily cap, all in one transaction of a
        handful of statements whatever the batch size."""
        limit = limit or self.settings.batch_size
        with self.db.write() as s:
            rules = self.rules.current(s)
            n = _NOTIFICATIONS.c
            # Two queries, not one with OR: each walks ix_notifications_due in order and stops
            # at the batch size, where an OR would sort every due row for every batch.
            rows = self._due(s, and_(n.status == SENDING, n.lease_until < now), limit)
            if len(rows) < limit:
                rows += self._due(s, and_(n.status == PENDING, n.due_at <= now), limit - len(rows))
            if not rows:
                return []
            days = {row.id: audience.local_day(now, row.timezone) for row in rows if row.kind == "offer"}
            quota = self._lock_quota(s, {(row.subscriber_pk, days[row.id]) for row in rows if row.kind == "offer"})
            touched = set()
            lease = now + self.settings.lease
            claimed: list[_Claimed] = []
            changes: list[dict] = []
            for row in rows:
                if row.kind == "withdraw":
                    verdict = self._screen_withdrawal(row, now)
                elif row.kind.startswith(PRICE_PREFIX):
                    verdict = self._screen_price(row, now, rules, quota)
                else:
                    verdict = self._screen(row, now, rules, quota, days[row.id])
                if verdict is not None:
                    label, values = verdict
                    PUSH_OUTCOMES.labels(label).inc()
                    changes.append({**values, "lease_until": None, "nid": row.id})
                    continue
                distance = None
                day = None
                if row.kind == "offer":
                    day = days[row.id]
                    quota[(row.subscriber_pk, day)] += 1
                    touched.add((row.subscriber_pk, day))
                    # The wave measured it, from the nearest of the resident's places that counts.
                    distance = (
                        row.distance_m if row.distance_m is not None
                        else geo.distance_shown_m(row.shop_lat, row.shop_lon, row.lat, row.lon)
                    )
                    message = self._message(row, distance, now)
                elif row.kind.startswith(PRICE_PREFIX):
                    # Not counted against the daily cap: it updates an alert the resident has.
                    distance = (
                        row.distance_m if row.distance_m is not None
                        else geo.distance_shown_m(row.shop_lat, row.shop_lon, row.lat, row.lon)
                    )
                    message = self._price_drop(row, distance, now)
                else:
                    message = self._withdrawal(row, now)
                attempts = row.attempts + 1
                changes.append(
                    {"status": SENDING, "lease_until": lease, "attempts": attempts, "distance_m": distance, "nid": row.id}
                )
                claimed.append(_Claimed(row.id, row.subscriber_pk, day, message, attempts))
            self._apply(s, changes)
            self._store_quota(s, {key: quota[key] for key in sorted(touched)})
            return claimed

    @staticmethod
    def _due(s, condition, limit: int) -> list:
        """Due notifications joined to what their push needs, locked; rows another dispatcher
        holds are skipped, not waited for."""
        n, o, sh, sub = _NOTIFICATIONS.c, Offer.__table__.c, Shop.__table__.c, Subscriber.__table__.c
        return s.execute(
            select(
                n.id, n.kind, n.attempts, n.subscriber_pk, n.distance_m, n.created_at,
                o.id.label("offer_id"), o.title, o.status.label("offer_status"), o.expires_at, o.price_cents,
                o.original_price_cents, o.discount_pct, o.currency, o.price_step, o.price_steps,
                sh.id.label("shop_id"), sh.name.label("shop_name"), sh.lat.label("shop_lat"), sh.lon.label("shop_lon"),
                sub.active, sub.timezone, sub.locale, sub.quiet_start, sub.quiet_end, sub.max_per_day, sub.fcm_token,
                sub.lat, sub.lon, sub.price_drops,
            )
            .select_from(
                _NOTIFICATIONS.join(Offer.__table__, n.offer_id == o.id)
                .join(Shop.__table__, o.shop_id == sh.id)
                .join(Subscriber.__table__, n.subscriber_pk == sub.pk)
            )
            .where(condition)
            .order_by(n.due_at)
            .limit(limit)
            .with_for_update(of=_NOTIFICATIONS, skip_locked=True)
        ).all()

    @staticmethod
    def _apply(s, changes: list[dict]) -> None:
        """One statement per shape of change (claimed, deferred, suppressed, dropped): on
        PostgreSQL the claimed rows in one UPDATE ... FROM unnest(arrays), elsewhere (and for
        the rarer shapes) an executemany."""
        shapes: dict[tuple, list[dict]] = {}
        for change in changes:
            shapes.setdefault(tuple(sorted(change)), []).append(change)
        for keys, params in shapes.items():
            if _is_pg(s) and keys == _CLAIMED_SHAPE and len({p["lease_until"] for p in params}) == 1:
                s.execute(
                    _PG_CLAIM,
                    {
                        "lease": _naive_utc(params[0]["lease_until"]),
                        "ids": [p["nid"] for p in params],
                        "attempts": [p["attempts"] for p in params],
                        "distances": [p["distance_m"] for p in params],
                    },
                )
                continue
            stmt = (
                _NOTIFICATIONS.update()
                .where(_NOTIFICATIONS.c.id == bindparam("nid"))
                .values({k: bindparam(k) for k in keys if k != "nid"})
            )
            s.execute(stmt, params)

    @staticmethod
    def _withdrawal_ends(row) -> datetime:
        """A withdrawal is useful while a phone that was offline may still show the alert: until
        the offer would have expired, and at least an hour after the withdrawal."""
        return max(row.created_at + WITHDRAWAL_MIN_TTL, row.expires_at)

    def _screen_withdrawal(self, row, now) -> tuple[str, dict] | None:
        if not row.active:
            return DROPPED, {"status": DROPPED, "reason": "subscriber_inactive"}
        if delivery.ttl_s(self._withdrawal_ends(row), now) < 1:
            return DROPPED, {"status": DROPPED, "reason": "withdrawal_expired"}
        return None

    def _screen_price(self, row, now, rules, quota) -> tuple[str, dict] | None:
        """_screen for a price-drop push: also dropped once a later step has applied (that
        step's own push carries the newer price) or the resident no longer wants them; quiet
        hours apply, the daily cap does not."""
        if offer_rules.is_live(row.offer_status, row.expires_at, now) and row.active:
            if row.price_step > int(row.kind[len(PRICE_PREFIX):]):
                return DROPPED, {"status": DROPPED, "reason": "superseded"}
            if not row.price_drops:
                return DROPPED, {"status": DROPPED, "reason": "price_drops_off"}
        return self._screen(row, now, rules, quota, None)

    def _screen(self, row, now, rules, quota, day: str | None) -> tuple[str, dict] | None:
        """None when the push may go now; otherwise what happens to it instead: its outcome
        label and the columns to change."""
        if not offer_rules.is_live(row.offer_status, row.expires_at, now):
            reason = "offer_" + offer_rules.effective_status(row.offer_status, row.expires_at, now)
            return DROPPED, {"status": DROPPED, "reason": reason}
        if not row.active:
            return DROPPED, {"status": DROPPED, "reason": "subscriber_inactive"}
        if delivery.ttl_s(row.expires_at, now) < 1:
            return DROPPED, {"status": DROPPED, "reason": "offer_expired"}
        until = audience.quiet_until(now, row.timezone, row.quiet_start, row.quiet_end)
        if until is not None:
            if until >= row.expires_at:
                return SUPPRESSED, {"status": SUPPRESSED, "reason": "quiet_hours"}
            return "deferred", {"status": PENDING, "reason": "quiet_hours", "due_at": until}
        if day is None:
            return None  # not counted against the daily cap
        cap = audience.daily_cap(row.max_per_day, rules.max_notifications_per_day)
        if quota[(row.subscriber_pk, day)] >= cap:
            return SUPPRESSED, {"status": SUPPRESSED, "reason": "daily_cap"}
        return None

    def _lock_quota(self, s, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
        keys = sorted(keys)
        if not keys:
            return {}
        if _is_pg(s):
            s.execute(_PG_QUOTA_ROWS, {"pks": [pk for pk, _ in keys], "days": [day for _, day in keys]})
        else:
            s.execute(
                _insert(s)(PushQuota.__table__).on_conflict_do_nothing(index_elements=["subscriber_pk", "day"]),
                [{"subscriber_pk": pk, "day": day, "count": 0} for pk, day in keys],
            )
        # One statement, locked in key order: two dispatchers never wait on each other in a cycle.
        counts: dict[tuple[int, str], int] = {}
        for start in range(0, len(keys), _INSERT_CHUNK):
            chunk = keys[start : start + _INSERT_CHUNK]
            # Two IN lists walk the primary key; a batch has one or two local days, so the
            # few extra rows it may lock (same resident, the other day) cost nothing.
            rows = s.execute(
                select(PushQuota.subscriber_pk, PushQuota.day, PushQuota.count)
                .where(
                    PushQuota.subscriber_pk.in_({pk for pk, _ in chunk}),
                    PushQuota.day.in_({day for _, day in chunk}),
                )
                .order_by(PushQuota.subscriber_pk, PushQuota.day)
                .with_for_update()
            )
            counts.update({(pk, day): count for pk, day, count in rows})
        return counts

    @staticmethod
    def _store_quota(s, quota: dict[tuple[int, str], int]) -> None:
        if not quota:
            return
        if _is_pg(s):
            s.execute(_PG_QUOTA_COUNTS, {"pks": [pk for pk, _ in quota], "days": [day for _, day in quota],
                                         "counts": list(quota.values())})
            return
        table = PushQuota.__table__
        s.execute(
            table.update()
            .where(table.c.subscriber_pk == bindparam("k_pk"), table.c.day == bindparam("k_day"))
            .values(count=bindparam("k_count")),
            [{"k_pk": pk, "k_day": day, "k_count": count} for (pk, day), count in quota.items()],
        )

    def _message(self, row, distance: float, now: datetime) -> PushMessage:
        """The alert for one claimed row (the notification joined to its offer, shop and
        resident)."""
        expires = row.expires_at
        wording = audience.push_text(
            title=row.title,
            shop_name=row.shop_name,
            discount_pct=row.discount_pct,
            price_cents=row.price_cents,
            original_price_cents=row.original_price_cents,
            currency=row.currency,
            distance_m=distance,
            expires_at=expires,
            zone_name=row.timezone,
            locale=row.locale,
            translations=translations(row.locale),
        )
        return PushMessage(
            token=row.fcm_token,
            data={
                "type": "offer",
                "offer_id": row.offer_id,
                "shop_id": row.shop_id,
                "shop_name": row.shop_name,
                "title": row.title,
                "price_cents": str(row.price_cents),
                "original_price_cents": str(row.original_price_cents),
                "discount_pct": f"{row.discount_pct:g}",
                "currency": row.currency,
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "distance_m": str(int(round(distance))),
                "lat": f"{row.shop_lat:.6f}",
                "lon": f"{row.shop_lon:.6f}",
                "locale": row.locale,
            },
            collapse_key=delivery.collapse_key(row.offer_id),
            ttl_s=delivery.ttl_s(expires, now),
            expires_at_unix=math.floor(expires.timestamp()),
            title=wording.title,
            body=wording.body,
            urgency=delivery.urgency(delivery.ALERT),
            link=delivery.offer_link(self.settings.public_url, row.offer_id),
        )

    def _price_drop(self, row, distance: float, now: datetime) -> PushMessage:
        """The alert again at the step's price, under the same collapse key and TTL: it replaces
        the alert on the phone, so it carries everything the alert did, and what the price was."""
        alert = self._message(row, distance, now)
        step = int(row.kind[len(PRICE_PREFIX):])
        steps = row.price_steps or []
        previous = steps[step - 1].get("previous_price_cents") if 0 < step <= len(steps) else None
        wording = audience.price_drop_text(
            title=row.title,
            shop_name=row.shop_name,
            discount_pct=row.discount_pct,
            price_cents=row.price_cents,
            original_price_cents=row.original_price_cents,
            previous_price_cents=previous,
            currency=row.currency,
            distance_m=distance,
            expires_at=row.expires_at,
            zone_name=row.timezone,
            locale=row.locale,
            translations=translations(row.locale),
        )
        data = {**alert.data, "type": "price_drop", "step": str(step)}
        if previous is not None:
            data["previous_price_cents"] = str(previous)
        return dataclasses.replace(
            alert, data=data, title=wording.title, body=wording.body, urgency=delivery.urgency(delivery.PRICE_DROP)
        )

    def _withdrawal(self, row, now: datetime) -> PushMessage:
        """A data-only message under the alert's collapse key: the app replaces the alert
        with "gone" instead of leaving a deal that cannot be had. A browser cannot take a silent
        push, so the web app gets the "gone" words in the resident's language, under the
        alert's tag."""
        status = offer_rules.effective_status(row.offer_status, row.expires_at, now)
        # Long enough to reach a phone that was offline for a while; no longer useful after.
        ends = self._withdrawal_ends(row)
        gone = audience.gone_text(
            title=row.title, shop_name=row.shop_name, status=status, translations=translations(row.locale)
        )
        return PushMessage(
            token=row.fcm_token,
            data={"type": "withdrawn", "offer_id": row.offer_id, "shop_id": row.shop_id, "status": status,
                  "locale": row.locale},
            collapse_key=delivery.collapse_key(row.offer_id),
            ttl_s=delivery.ttl_s(ends, now),
            expires_at_unix=math.floor(ends.timestamp()),
            web_title=gone.title,
            web_body=gone.body,
            urgency=delivery.urgency(delivery.WITHDRAWAL),
            link=delivery.offer_link(self.settings.public_url, row.offer_id),
        )

    def _record(self, claimed: list[_Claimed], results: list[PushResult], gate: BatchGate | None = None) -> None:
        now = self.clock()
        with self.db.write() as s:
            released: list[tuple[int, str]] = []
            delivered = [
                {"nid": c.notification_id, "mid": result.message_id}
                for c, result in zip(claimed, results)
                if result.outcome == SENT
            ]
            if delivered and _is_pg(s):
                # A delivery is a fact even if our lease ran out meanwhile: recording it stops
                # a takeover from sending a third time. One statement for the whole batch.
                s.execute(
                    _PG_DELIVERED,
                    {"now": _naive_utc(now), "by": self.name,
                     "ids": [d["nid"] for d in delivered], "mids": [d["mid"] for d in delivered]},
                )
            elif delivered:
                s.execute(
                    _NOTIFICATIONS.update()
                    .where(_NOTIFICATIONS.c.id == bindparam("nid"), or_(_NOTIFICATIONS.c.status == SENDING, _NOTIFICATIONS.c.status == PENDING))
                    .values(status=DONE_SENT, reason=None, fcm_message_id=bindparam("mid"), sent_at=now,
                            lease_until=None, sent_by=self.name),
                    delivered,
                )
            if delivered:
                PUSH_OUTCOMES.labels("sent").inc(len(delivered))
            for c, result in zip(claimed, results):
                if result.outcome == SENT:
                    continue
                # Any other outcome only for our own claim: a dispatcher that took the row over
                # after our lease ran out owns it now.
                mine = and_(
                    Notification.id == c.notification_id,
                    Notification.status == SENDING,
                    Notification.attempts == c.attempts,
                )
                outcome = result.outcome
                if outcome == DEAD_TOKEN:
                    values = dict(status=FAILED, reason="dead_token", lease_until=None)
                    label = "dead_token"
                elif outcome == UNSENT or outcome == AUTH_FAILED or (outcome == RETRY and gate is not None and gate.held):
                    # Not this push's failure (never sent, FCM refusing our credentials, or FCM
                    # failing for everyone): back to the outbox as it was, the attempt unspent,
                    # due as before; the breaker decides when claims start again.
                    values = dict(status=PENDING, attempts=c.attempts - 1, lease_until=None)
                    if outcome != UNSENT:
                        values["reason"] = (result.error or outcome)[:32]
                    label = "held"
                elif outcome == RETRY:
                    due = now + timedelta(seconds=backoff_s(c.attempts, self.settings, result.retry_after_s))
                    values = dict(status=PENDING, reason=(result.error or "retry")[:32], due_at=due, lease_until=None)
                    label = "retry"
                else:
                    values = dict(status=FAILED, reason="dead_letter", lease_until=None)
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
