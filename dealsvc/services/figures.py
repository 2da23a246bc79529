"""Read-only figures for the pages: the reach of a point by category, the waves an offer went out in,
a shop's followers, and the operator's live counts. The operator's are exact; a merchant's pass
through domain/privacy.py (the `for_shop`/`shop_` methods)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol, Sequence

from ..adapters.spatial import SubscriberIndex
from ..domain import offers as offer_rules
from ..domain import privacy, waves
from ..domain.clock import Clock
from ..domain.outbox import PushStatus
from .followers import followers_in_reach
from .ports import Transactions
from .rules import RulesService


class FigureQueries(Protocol):
    """What FiguresService needs of the database (SQL: queries/figures.py in the database adapter)."""

    def count_active_followers(self, shop_id: str) -> int: ...
    def offer_waves_of(self, offer_ids: Sequence[str]) -> list[Any]: ...  # offer_id, seq, matched, done_at, due_at; by offer, seq
    def count_live_offers(self, now: datetime) -> int: ...
    def count_offer_pushes_sent_since(self, since: datetime) -> int: ...
    def offer_pushes_failed_or_suppressed_since(self, since: datetime) -> dict[str, int]: ...
    def count_residents_deactivated_since(self, since: datetime) -> int: ...
    def count_active_residents(self) -> int: ...


class FiguresService:
    def __init__(self, store: Transactions[FigureQueries], clock: Clock, rules: RulesService, index: SubscriberIndex,
                 secret: bytes):
        self.store = store
        self.clock = clock
        self.rules = rules
        self.index = index
        self.secret = secret  # the offsets of merchants' figures (domain/privacy.py)

    def reach(self, lat: float, lon: float, category: str | None = None) -> int:
        """How many active residents an offer of `category` at (lat, lon) would be matched with
        now: the dispatcher's own index and radius cap, before quiet hours and daily caps."""
        cap = self.rules.current().max_radius_m
        self.index.refresh()
        return self.index.count(lat, lon, cap, category)

    def waves(
        self,
        lat: float,
        lon: float,
        quantity: int,
        category: str | None = None,
        shop_id: str | None = None,
        lifetime_s: int | None = None,
    ) -> list[dict[str, int]]:
        """The waves an offer of `quantity` items at (lat, lon) would go out in, if nothing sold
        meanwhile: the residents in reach now, plus the shop's followers beyond their own
        radius (with `shop_id`), under the wave rules in force."""
        rules = self.rules.current()
        now = self.clock()
        self.index.refresh()
        reached = set(self.index.match(lat, lon, rules.max_radius_m, category, at=now).tolist())
        followers = 0
        if shop_id is not None:
            with self.store.read() as q:
                followers = sum(
                    1 for pk, _ in followers_in_reach(q, shop_id, lat, lon, rules.max_radius_m, now) if pk not in reached
                )
        plan = waves.plan(
            len(reached), followers, enabled=rules.waves_enabled, factor=rules.wave_factor,
            interval_s=rules.wave_interval_s, quantity=quantity, lifetime_s=lifetime_s,
        )
        return [{"wave": w.number, "after_s": w.after_s, "residents": w.residents} for w in plan]

    def shop_reach(self, shop: dict[str, Any], category: str | None = None) -> int:
        """What the shop's merchant may see of its reach (privacy.coarse; 0: too few to show):
        counted at the centre of the shop's grid cell, never at the shop itself."""
        cell, lat, lon = privacy.snap(shop["lat"], shop["lon"])
        return privacy.coarse(self.reach(lat, lon, category), self.secret, f"cell:{cell}")

    def shop_waves(self, shop: dict[str, Any], quantity: int, category: str | None = None,
                   lifetime_s: int | None = None) -> tuple[int, list[dict[str, int]]]:
        """The merchant's preview: the coarse reach, and the waves an offer of `quantity` would
        go out in if that many were in reach (planned from the coarse figure only)."""
        shown = self.shop_reach(shop, category)
        rules = self.rules.current()
        plan = waves.plan(
            shown, 0, enabled=rules.waves_enabled, factor=rules.wave_factor,
            interval_s=rules.wave_interval_s, quantity=quantity, lifetime_s=lifetime_s,
        )
        return shown, [{"wave": w.number, "after_s": w.after_s, "residents": w.residents} for w in plan]

    def shop_waves_told(self, offers: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """waves_told as the merchant of these offers ({"id", "shop_id", "status", "expires_at"})
        may see it. Each wave's residents are coarse, and a later wave is listed only when that
        shows some. Whether a next wave is planned says whether anyone in reach is still untold,
        an exact count against a threshold the merchant picks (5 × the quantity): so while waves
        are on and the offer is live, the next wave is shown every wave_interval_s after the first
        whether or not anyone is left to tell."""
        found = self.waves_told([o["id"] for o in offers])
        rules = self.rules.current()
        now = self.clock()
        interval = timedelta(seconds=rules.wave_interval_s)
        for offer in offers:
            entry = found[offer["id"]]
            key = privacy.shop_key(offer["shop_id"])
            for wave in entry["waves"]:
                wave["residents"] = privacy.coarse(wave["residents"], self.secret, key)
            entry["waves"] = [w for w in entry["waves"] if w["wave"] == 1 or w["residents"] > 0]
            if not entry["waves"]:
                continue  # wave 1 not out yet: its due time says nothing of residents
            next_at = None
            if rules.waves_enabled and offer["status"] == offer_rules.ACTIVE:
                first = entry["waves"][0]["at"]
                next_at = first + interval * (max(0, (now - first) // interval) + 1)
                if next_at >= offer["expires_at"]:
                    next_at = None
            entry["next_wave"], entry["next_at"] = None, next_at
        return found

    def followers(self, shop_id: str) -> int:
        """How many active residents follow the shop, wherever they are now."""
        with self.store.read() as q:
            return q.count_active_followers(shop_id)

    def waves_told(self, offer_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Per offer, from its fan-outs: the waves done so far ({"wave", "residents", "at"}) and
        the next one due ("next_wave", "next_at"; None when none is planned). Nothing here is
        owner-checked: the caller passes only offers it has checked are the viewer's."""
        found: dict[str, dict[str, Any]] = {
            offer_id: {"waves": [], "next_wave": None, "next_at": None} for offer_id in offer_ids
        }
        if not found:
            return found
        with self.store.read() as q:
            rows = q.offer_waves_of(list(found))
        for row in rows:
            entry = found[row.offer_id]
            if row.done_at is None:
                # A claimed wave's due_at is its lease: at most a lease later than shown.
                if entry["next_at"] is None or row.due_at < entry["next_at"]:
                    entry["next_wave"], entry["next_at"] = row.seq, row.due_at
            elif row.matched or row.seq == 1:
                # A later wave that told nobody found the offer ended: not a wave to report.
                entry["waves"].append({"wave": row.seq, "residents": row.matched or 0, "at": row.done_at})
        return found

    def live(self, window: timedelta = timedelta(hours=1)) -> dict[str, Any]:
        """Active offers now, and what became of pushes in the last `window`."""
        now = self.clock()
        since = now - window
        with self.store.read() as q:
            active = q.count_live_offers(now)
            sent = q.count_offer_pushes_sent_since(since)
            # A failed or suppressed push keeps no time of its outcome; it is counted by when
            # it was queued, which for these is within seconds of the outcome (or of a retry).
            outcomes = q.offer_pushes_failed_or_suppressed_since(since)
            # The dispatcher deactivates a resident whose token FCM reports dead, and stamps
            # updated_at; an unsubscribed resident is told apart by deleted_at.
            pruned = q.count_residents_deactivated_since(since)
            residents = q.count_active_residents()
        return {
            "window_minutes": int(window.total_seconds() // 60),
            "active_offers": active,
            "sent": sent,
            "failed": outcomes.get(PushStatus.FAILED, 0),
            "suppressed": outcomes.get(PushStatus.SUPPRESSED, 0),
            "dead_tokens_pruned": pruned,
            "active_residents": residents,
        }
