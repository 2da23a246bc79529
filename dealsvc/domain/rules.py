"""The operator's rules: each one's default, limits, unit, words and help, and the checks that read them.

A rule is one field of `Rules` below, declared with `rule(...)`: its default, its bounds, its unit,
the label and help the console shows (catalogue texts), and the sentence the API reference gives
it. The API's schemas (api/schemas.py), the console's form (web/forms.py) and its rows
(web/templates/web/admin.html) are built from these declarations, so adding a rule is one field
here plus the logic that reads it (docs/rules.md), for example::

    max_photos_per_offer: int = rule(
        3, COUNT, low=0, high=10,
        label=Text("Photos per offer"),
        help=Text("How many photos one offer may show."),
        doc="Photos one offer may show; one more is a 422.",
    )

then `make i18n-update` and the new label and help translated. Checks across rules (one must not
exceed another) stay in `Rules.changed`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

from .errors import RuleViolation
from .i18n import Plural, Text


@dataclass(frozen=True)
class Unit:
    """What a rule's number counts: `symbol` follows its label ("Largest radius (m)"), `ask` is
    what a form says when what was typed is not such a number; `in_ranges`: the symbol follows
    the bounds in a refusal too ("between 1 and 50000 m")."""

    symbol: str
    ask: Text
    in_ranges: bool = True


PERCENT = Unit("%", Text("Enter a percentage."), in_ranges=False)
METRES = Unit("m", Text("Enter whole metres."))
HOURS = Unit("h", Text("Enter whole hours."))
MINUTES = Unit("min", Text("Enter whole minutes."))
SECONDS = Unit("s", Text("Enter whole seconds."))
COUNT = Unit("", Text("Enter a whole number."), in_ranges=False)


@dataclass(frozen=True)
class Group:
    """Rules shown together on the console, under a title and a sentence saying what they are for."""

    title: Text
    intro: Text


WAVES = Group(
    Text("Waves of alerts"),
    Text("An offer is told first to the shop's followers and the nearest residents, then to the next "
         "nearest while stock remains: the last items do not bring a crowd to an empty shelf."),
)
RESERVATIONS = Group(
    Text("Reservations"),
    Text("So that one resident cannot hold a shop's whole stock, or hold it for ever."),
)


@dataclass(frozen=True)
class Rule:
    """One rule's description (the field of `Rules` with the same name holds its value)."""

    name: str
    kind: type  # bool, int or float: what the rule's value is
    default: Any
    label: Text
    help: Text
    unit: Unit | None = None  # None for a yes/no rule
    low: float | None = None  # the bounds of a number; `low` is always allowed
    high: float | None = None
    high_inclusive: bool = True
    group: Group | None = None  # None: among the general rules, first on the console
    doc: str = ""  # what the API reference says of it (for developers, in English)

    @property
    def is_switch(self) -> bool:
        return self.kind is bool

    @property
    def whole(self) -> bool:
        return self.kind is int

    def allows(self, value: float) -> bool:
        """`value` within this rule's bounds."""
        return self.low <= value and (value <= self.high if self.high_inclusive else value < self.high)

    @property
    def bounds(self) -> Text:
        """The bounds as the console's hint says them."""
        if self.high_inclusive:
            return Text("From {min} to {max}.", min=self.low, max=self.high)
        return Text("From {min} up to (not including) {max}.", min=self.low, max=self.high)

    @property
    def out_of_bounds(self) -> Text:
        """What a form says of a number outside the bounds."""
        if not self.high_inclusive:
            return Text("Must be from {min} up to (not including) {max}.", min=self.low, max=self.high)
        if self.unit is not None and self.unit.in_ranges:
            return Text("Must be between {min} and {max} {unit}.", min=self.low, max=self.high, unit=self.unit.symbol)
        return Text("Must be between {min} and {max}.", min=self.low, max=self.high)


_RULE = "rule"
_KINDS = {"bool": bool, "int": int, "float": float}


def rule(default: Any, unit: Unit | None = None, *, label: Text, help: Text, low: float | None = None,
         high: float | None = None, high_inclusive: bool = True, group: Group | None = None, doc: str = "") -> Any:
    """A field of `Rules` with its description (completed with its name and type by `RULES`)."""
    if (unit is None) != (low is None or high is None):
        raise TypeError("a number rule has a unit and both bounds; a yes/no rule has neither")
    described = dict(default=default, label=label, help=help, unit=unit, low=low, high=high,
                     high_inclusive=high_inclusive, group=group, doc=doc)
    return field(default=default, metadata={_RULE: described})


@dataclass(frozen=True)
class Rules:
    min_discount_pct: float = rule(
        40, PERCENT, low=0, high=100, high_inclusive=False,
        label=Text("Smallest discount"), help=Text("An offer must take at least this much off its price."),
    )
    max_discount_pct: float = rule(
        60, PERCENT, low=0, high=100, high_inclusive=False,
        label=Text("Largest discount"), help=Text("An offer may take at most this much off its price."),
    )
    default_radius_m: int = rule(
        1000, METRES, low=1, high=50_000,
        label=Text("Default radius"), help=Text("How far from a place a resident hears of offers, unless they choose."),
    )
    max_radius_m: int = rule(
        5000, METRES, low=1, high=50_000,
        label=Text("Largest radius"), help=Text("The farthest a resident may choose to hear of offers from."),
    )
    max_offer_horizon_h: int = rule(
        72, HOURS, low=1, high=24 * 30,
        label=Text("Longest offer"), help=Text("How far ahead of its posting an offer may end."),
    )
    min_offer_lifetime_s: int = rule(
        600, SECONDS, low=0, high=24 * 3600,
        label=Text("Shortest offer"), help=Text("How long after its posting an offer must still run."),
    )
    max_notifications_per_day: int = rule(
        5, COUNT, low=0, high=1000,
        label=Text("Pushes per resident per day"), help=Text("Alerts beyond this many in a day are not sent."),
    )
    merchant_approval_required: bool = rule(
        False,
        label=Text("New merchants wait for approval"),
        help=Text("Ticked: a new merchant may set up shops but posts no offer until you approve them."),
    )
    # Stock-sized waves (domain/waves.py): off tells everyone in reach at once.
    waves_enabled: bool = rule(
        True, group=WAVES,
        label=Text("Tell residents in waves"), help=Text("Unticked: everyone in reach hears of a new offer at once."),
        doc="Tell residents in stock-sized waves, nearest first; off: all at once.",
    )
    wave_factor: int = rule(
        5, COUNT, low=1, high=1000, group=WAVES,
        label=Text("Residents per item left, in each wave"),
        help=Text("A wave tells this many residents for every item left: 5 × 10 items = 50."),
        doc="A wave tells wave_factor × quantity_left residents.",
    )
    wave_interval_s: int = rule(
        600, SECONDS, low=30, high=24 * 3600, group=WAVES,
        label=Text("Time between waves"),
        help=Text("While stock remains, the next nearest are told this long after the wave before: 600 s = 10 min."),
        doc="Seconds between waves while stock remains.",
    )
    # Fair use: one resident cannot hold a shop's whole stock, nor hold it for ever.
    max_reservation_quantity: int = rule(
        2, COUNT, low=1, high=999, group=RESERVATIONS,
        label=Text("Items in one reservation"), help=Text("At most this many items per reservation."),
        doc="Items one reservation may hold.",
    )
    max_active_holds: int = rule(
        3, COUNT, low=1, high=100, group=RESERVATIONS,
        label=Text("Reservations a resident holds at once"),
        help=Text("Across all offers, until one is collected, released or ends."),
        doc="Reservations a resident may hold at once, across all offers.",
    )
    hold_minutes: int = rule(
        30, MINUTES, low=1, high=24 * 60, group=RESERVATIONS,
        label=Text("Time to collect"),
        help=Text("A hold not collected by then ends by itself and its items go back on sale."),
        doc="A hold not collected within this time ends by itself (`expired`) and its items go back to the offer.",
    )
    # Where a merchant may ask for figures (domain/privacy.py).
    max_shops_per_merchant: int = rule(
        20, COUNT, low=1, high=1000,
        label=Text("Shops per merchant"), help=Text("A merchant cannot add a shop beyond this many."),
        doc="One shop more is a 422.",
    )

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


def describe(rules: type[Rules]) -> tuple[Rule, ...]:
    """The descriptions of the rules declared in `rules` (`Rules`, or a class extending it)."""
    return tuple(
        Rule(name=f.name, kind=f.type if isinstance(f.type, type) else _KINDS[f.type], **f.metadata[_RULE])
        for f in fields(rules)
    )


RULES = describe(Rules)
"""Every rule, in the order of `Rules` (the API's order)."""


def grouped(rules: tuple[Rule, ...] = RULES) -> list[tuple[Group | None, list[Rule]]]:
    """The rules as the console shows them: the general ones first, then each group's, in the
    order they are declared."""
    groups: dict[Group | None, list[Rule]] = {None: []}
    for r in rules:
        groups.setdefault(r.group, []).append(r)
    return [(group, members) for group, members in groups.items() if members]
