"""The operator's rules: their defaults, their limits, and the checks that read them."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from .errors import RuleViolation
from .i18n import Plural, Text


@dataclass(frozen=True)
class Rules:
    min_discount_pct: float = 40
    max_discount_pct: float = 60
    default_radius_m: int = 1000
    max_radius_m: int = 5000
    max_offer_horizon_h: int = 72
    min_offer_lifetime_s: int = 600
    max_notifications_per_day: int = 5
    merchant_approval_required: bool = False
    # Stock-sized waves (domain/waves.py): off tells everyone in reach at once.
    waves_enabled: bool = True
    wave_factor: int = 5
    wave_interval_s: int = 600
    # Fair use (issue 12): one resident cannot hold a shop's whole stock, nor hold it for ever.
    max_reservation_quantity: int = 2  # items in one reservation
    max_active_holds: int = 3  # a resident's held reservations across all offers
    hold_minutes: int = 30  # a hold not collected by then ends by itself (expired)
    max_shops_per_merchant: int = 20  # where a merchant may ask for figures (domain/privacy.py)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_stored(cls, stored: dict[str, Any] | None) -> "Rules":
        """Stored values over the defaults; names no longer known are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (stored or {}).items() if k in known})

    def changed(self, **changes: Any) -> "Rules":
        """The rules after an operator's change, checked for consistency (422 if not)."""
        new = replace(self, **changes)
        problems: dict[str, list[Text]] = {}

        def blame(low: str, high: str, low_message: Text, high_message: Text) -> None:
            # Name the rules the operator changed, so the error points at what they sent.
            named = [n for n in (low, high) if n in changes] or [low]
            if low in named:
                problems[low] = [low_message]
            if high in named:
                problems[high] = [high_message]

        if new.min_discount_pct > new.max_discount_pct:
            blame(
                "min_discount_pct", "max_discount_pct",
                Text("must not exceed max_discount_pct ({value}).", value=new.max_discount_pct),
                Text("must not be below min_discount_pct ({value}).", value=new.min_discount_pct),
            )
        if new.default_radius_m > new.max_radius_m:
            blame(
                "default_radius_m", "max_radius_m",
                Text("must not exceed max_radius_m ({value}).", value=new.max_radius_m),
                Text("must not be below default_radius_m ({value}).", value=new.default_radius_m),
            )
        if new.min_offer_lifetime_s > new.max_offer_horizon_h * 3600:
            blame(
                "min_offer_lifetime_s", "max_offer_horizon_h",
                Text("must not exceed max_offer_horizon_h ({value} h).", value=new.max_offer_horizon_h),
                Text("must not be below min_offer_lifetime_s ({value} s).", value=new.min_offer_lifetime_s),
            )
        if problems:
            raise RuleViolation(Text("The rules would contradict each other."), problems)
        return new

    def diff(self, other: "Rules") -> list[tuple[str, Any, Any]]:
        """(name, old, new) for every rule that differs in `other`."""
        return [
            (f.name, getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]

    # --- checks applied to clients' requests -------------------------------------------

    def check_radius(self, radius_m: int, field: str = "radius_m") -> None:
        if radius_m > self.max_radius_m:
            raise RuleViolation(
                Text("The radius may be at most {value} m.", value=self.max_radius_m),
                {field: [Text("must be at most {value} m (operator rule max_radius_m).", value=self.max_radius_m)]},
            )

    def check_reservation(self, quantity: int, active_holds: int) -> None:
        """A resident asks for `quantity` items while holding `active_holds` reservations."""
        if quantity > self.max_reservation_quantity:
            raise RuleViolation(
                Plural("A reservation may hold at most {n} item.", "A reservation may hold at most {n} items.", n=self.max_reservation_quantity),
                {"quantity": [Text("must be at most {value} (operator rule max_reservation_quantity).", value=self.max_reservation_quantity)]},
            )
        if active_holds >= self.max_active_holds:
            raise RuleViolation(
                Plural(
                    "You already hold {n} reservation, the most allowed at once; collect or release it first.",
                    "You already hold {n} reservations, the most allowed at once; collect or release one first.",
                    n=active_holds,
                ),
                {"holds": [Plural(
                    "at most {n} held reservation at once (operator rule max_active_holds).",
                    "at most {n} held reservations at once (operator rule max_active_holds).",
                    n=self.max_active_holds,
                )]},
            )

    def check_shop_count(self, shops: int) -> None:
        """A merchant who already has `shops` shops may add one more only under the cap."""
        if shops >= self.max_shops_per_merchant:
            raise RuleViolation(
                Plural("A merchant may have at most {n} shop.", "A merchant may have at most {n} shops.", n=self.max_shops_per_merchant),
                {"_schema": [Plural(
                    "at most {n} shop a merchant (operator rule max_shops_per_merchant).",
                    "at most {n} shops a merchant (operator rule max_shops_per_merchant).",
                    n=self.max_shops_per_merchant,
                )]},
            )

    def check_expiry(self, expires_at: datetime, now: datetime) -> None:
        earliest = now + timedelta(seconds=self.min_offer_lifetime_s)
        latest = now + timedelta(hours=self.max_offer_horizon_h)
        if expires_at < earliest:
            raise RuleViolation(
                Text("The offer would expire too soon."),
                {"expires_at": [Text("must be at least {value} s ahead (operator rule min_offer_lifetime_s).", value=self.min_offer_lifetime_s)]},
            )
        if expires_at > latest:
            raise RuleViolation(
                Text("The offer would run too long."),
                {"expires_at": [Text("must be at most {value} h ahead (operator rule max_offer_horizon_h).", value=self.max_offer_horizon_h)]},
            )


DEFAULT_RULES = Rules()
