"""Claiming: the next due pushes, decided and built, leased to this dispatcher in one
transaction of a handful of statements whatever the batch size."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, select, text

from ...adapters.db.models import Offer, Shop, Subscriber
from ...domain import audience, geo
from ...domain.outbox import PushKind, PushStatus, price_step
from ...observability import PUSH_OUTCOMES
from ..rules import RulesService
from .messages import Messages
from .outbox import NOTIFICATIONS, Claimed, is_pg, naive_utc
from .quota import lock_quota, store_quota
from .screening import screen, screen_price, screen_withdrawal
from .settings import DispatchSettings

_CLAIMED_SHAPE = ("attempts", "distance_m", "lease_until", "nid", "status")
# PostgreSQL: a whole batch's per-row values in one statement, as arrays.
_PG_CLAIM = text(
    f"UPDATE notifications AS n SET status = '{PushStatus.SENDING}', lease_until = :lease, attempts = v.attempts, "
    "distance_m = v.distance_m FROM unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[]), "
    "CAST(:distances AS double precision[])) AS v(id, attempts, distance_m) WHERE n.id = v.id"
)


class Claimer:
    def __init__(self, rules: RulesService, settings: DispatchSettings, messages: Messages):
        self.rules = rules
        self.settings = settings
        self.messages = messages

    def claim(self, s, now: datetime, limit: int) -> list[Claimed]:
        """Take the next due notifications, decide each (send now, defer, suppress, drop) and
        count the ones that go against their resident's daily cap, all in one transaction of a
        handful of statements whatever the batch size."""
        rules = self.rules.current(s)
        n = NOTIFICATIONS.c
        # Two queries, not one with OR: each walks ix_notifications_due in order and stops
        # at the batch size, where an OR would sort every due row for every batch.
        rows = self._due(s, and_(n.status == PushStatus.SENDING, n.lease_until < now), limit)
        if len(rows) < limit:
            rows += self._due(s, and_(n.status == PushStatus.PENDING, n.due_at <= now), limit - len(rows))
        if not rows:
            return []
        days = {row.id: audience.local_day(now, row.timezone) for row in rows if row.kind == PushKind.OFFER}
        quota = lock_quota(s, {(row.subscriber_pk, days[row.id]) for row in rows if row.kind == PushKind.OFFER})
        touched = set()
        lease = now + self.settings.lease
        claimed: list[Claimed] = []
        changes: list[dict] = []
        for row in rows:
            if row.kind == PushKind.WITHDRAW:
                verdict = screen_withdrawal(row, now)
            elif price_step(row.kind) is not None:
                verdict = screen_price(row, now, rules, quota)
            else:
                verdict = screen(row, now, rules, quota, days[row.id])
            if verdict is not None:
                label, values = verdict
                PUSH_OUTCOMES.labels(label).inc()
                changes.append({**values, "lease_until": None, "nid": row.id})
                continue
            distance = None
            day = None
            if row.kind == PushKind.OFFER:
                day = days[row.id]
                quota[(row.subscriber_pk, day)] += 1
                touched.add((row.subscriber_pk, day))
                # The wave measured it, from the nearest of the resident's places that counts.
                distance = (
                    row.distance_m if row.distance_m is not None
                    else geo.distance_shown_m(row.shop_lat, row.shop_lon, row.lat, row.lon)
                )
                message = self.messages.alert(row, distance, now)
            elif price_step(row.kind) is not None:
                # Not counted against the daily cap: it updates an alert the resident has.
                distance = (
                    row.distance_m if row.distance_m is not None
                    else geo.distance_shown_m(row.shop_lat, row.shop_lon, row.lat, row.lon)
                )
                message = self.messages.price_drop(row, distance, now)
            else:
                message = self.messages.withdrawal(row, now)
            attempts = row.attempts + 1
            changes.append(
                {"status": PushStatus.SENDING, "lease_until": lease, "attempts": attempts, "distance_m": distance, "nid": row.id}
            )
            claimed.append(Claimed(row.id, row.subscriber_pk, day, message, attempts))
        self._apply(s, changes)
        store_quota(s, {key: quota[key] for key in sorted(touched)})
        return claimed

    @staticmethod
    def _due(s, condition, limit: int) -> list:
        """Due notifications joined to what their push needs, locked; rows another dispatcher
        holds are skipped, not waited for."""
        n, o, sh, sub = NOTIFICATIONS.c, Offer.__table__.c, Shop.__table__.c, Subscriber.__table__.c
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
                NOTIFICATIONS.join(Offer.__table__, n.offer_id == o.id)
                .join(Shop.__table__, o.shop_id == sh.id)
                .join(Subscriber.__table__, n.subscriber_pk == sub.pk)
            )
            .where(condition)
            .order_by(n.due_at)
            .limit(limit)
            .with_for_update(of=NOTIFICATIONS, skip_locked=True)
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
            if is_pg(s) and keys == _CLAIMED_SHAPE and len({p["lease_until"] for p in params}) == 1:
                s.execute(
                    _PG_CLAIM,
                    {
                        "lease": naive_utc(params[0]["lease_until"]),
                        "ids": [p["nid"] for p in params],
                        "attempts": [p["attempts"] for p in params],
                        "distances": [p["distance_m"] for p in params],
                    },
                )
                continue
            stmt = (
                NOTIFICATIONS.update()
                .where(NOTIFICATIONS.c.id == bindparam("nid"))
                .values({k: bindparam(k) for k in keys if k != "nid"})
            )
            s.execute(stmt, params)

