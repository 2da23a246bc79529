"""The discount band: a discount or a price turned into the stored price, held to the operator's band, now or by schedule."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from math import ceil, floor
from typing import Any, Mapping, Sequence

from .errors import RuleViolation
from .i18n import Percent, Text
from .rules import Rules


@dataclass(frozen=True)
class Price:
    price_cents: int
    discount_pct: float  # the effective discount of price_cents, for display


def effective_discount(original_cents: int, price_cents: int) -> Fraction:
    """Exact percentage: 100 * (1 - price / original)."""
    return Fraction(100) * (1 - Fraction(price_cents, original_cents))


def in_band(discount: Fraction, rules: Rules) -> bool:
    return Fraction(rules.min_discount_pct) <= discount <= Fraction(rules.max_discount_pct)


def price_offer(
    original_cents: int,
    rules: Rules,
    *,
    discount_pct: float | None = None,
    price_cents: int | None = None,
) -> Price:
    """The price to store, or a RuleViolation naming the field the shopkeeper gave.

    A discount is turned into whole cents by rounding to the nearest cent; when that rounding
    alone would leave the band (tiny prices), the other neighbouring cent is tried, so a
    discount inside the band is refused only when no whole-cent price lies inside it.
    """
    if (discount_pct is None) == (price_cents is None):
        raise ValueError("exactly one of discount_pct and price_cents")
    band = {"low": Percent(rules.min_discount_pct), "high": Percent(rules.max_discount_pct)}
    if price_cents is not None:
        if price_cents >= original_cents:
            raise RuleViolation(
                Text("The price must be below the original price."),
                {"price_cents": [Text("must be below original_price_cents ({original}).", original=original_cents)]},
            )
        discount = effective_discount(original_cents, price_cents)
        if not in_band(discount, rules):
            raise RuleViolation(
                Text("The discount must lie within {low}–{high}.", **band),
                {"price_cents": [Text(
                    "gives a discount of {discount}, outside {low}–{high} (operator rules min_discount_pct, max_discount_pct).",
                    discount=Percent(round(float(discount), 2)), **band,
                )]},
            )
        return Price(price_cents, _display(discount))

    requested = Fraction(discount_pct)
    if not in_band(requested, rules):
        raise RuleViolation(
            Text("The discount must lie within {low}–{high}.", **band),
            {"discount_pct": [Text("must lie within {low}–{high} (operator rules min_discount_pct, max_discount_pct).", **band)]},
        )
    exact = Fraction(original_cents) * (1 - requested / 100)
    nearest = floor(exact + Fraction(1, 2))
    # A discount of exactly 0 lands on the original price itself; the cent below is its neighbour.
    neighbours = {nearest, floor(exact), ceil(exact), original_cents - 1}
    for candidate in sorted(neighbours, key=lambda c: (abs(c - exact), -c)):
        if 0 <= candidate < original_cents:
            discount = effective_discount(original_cents, candidate)
            if in_band(discount, rules):
                return Price(candidate, _display(discount))
    raise RuleViolation(
        Text("No whole-cent price of {original} cents gives a discount within {low}–{high}.", original=original_cents, **band),
        {"discount_pct": [Text("no price in whole cents of {original} cents lies within {low}–{high}.", original=original_cents, **band)]},
    )


def _display(discount: Fraction) -> float:
    return round(float(discount), 2)


# --- scheduled price steps ------------------------------------------------------------------

MAX_PRICE_STEPS = 5


@dataclass(frozen=True)
class PriceStep:
    """One step of an offer's schedule: from `at` on, the offer costs price_cents."""

    at: datetime
    price_cents: int
    discount_pct: float
    # The price the step replaced, written down when the step is applied: the push says "was".
    previous_price_cents: int | None = None


def schedule_price_steps(
    requested: Sequence[Mapping[str, Any]],
    rules: Rules,
    *,
    original_cents: int,
    current_cents: int,
    now: datetime,
    expires_at: datetime,
    field: str = "price_steps",
) -> list[PriceStep]:
    """The shopkeeper's schedule ({"at", "discount_pct" | "price_cents"} each), checked and
    priced in whole cents, or a RuleViolation naming every offending `<field>.<i>.<name>`.

    Each step falls after now, before expiry and after the step before it; each lowers the
    price below the one before it (the current price first); each is priced by price_offer,
    so the band and the rounding are those of the offer itself.
    """
    if len(requested) > MAX_PRICE_STEPS:
        raise RuleViolation(
            Text("An offer takes at most {n} price steps.", n=MAX_PRICE_STEPS),
            {field: [Text("must hold at most {n} steps.", n=MAX_PRICE_STEPS)]},
        )
    problems: dict[str, list[Text]] = {}
    steps: list[PriceStep] = []
    previous_at, previous_cents = None, current_cents
    for i, wanted in enumerate(requested):
        name = f"{field}.{i}"
        at = wanted["at"]
        if at <= now:
            problems[f"{name}.at"] = [Text("must be in the future.")]
        elif at >= expires_at:
            problems[f"{name}.at"] = [Text("must be before expires_at ({at}).", at=_iso(expires_at))]
        elif previous_at is not None and at <= previous_at:
            problems[f"{name}.at"] = [Text("must be after the step before it ({previous}).", previous=f"{field}.{i - 1}.at")]
        previous_at = at
        given = "discount_pct" if wanted.get("discount_pct") is not None else "price_cents"
        try:
            price = price_offer(
                original_cents, rules, discount_pct=wanted.get("discount_pct"), price_cents=wanted.get("price_cents")
            )
        except RuleViolation as violation:
            for key, messages in (violation.errors or {}).items():
                problems.setdefault(f"{name}.{key}", []).extend(messages)
            continue
        if price.price_cents >= previous_cents:
            problems.setdefault(f"{name}.{given}", []).append(
                Text("gives {cents} cents; must be below the offer's price ({previous} cents).", cents=price.price_cents, previous=previous_cents)
                if i == 0 else
                Text("gives {cents} cents; must be below the price of {step} ({previous} cents).",
                     cents=price.price_cents, step=f"{field}.{i - 1}", previous=previous_cents)
            )
        previous_cents = price.price_cents
        steps.append(PriceStep(at, price.price_cents, price.discount_pct))
    if problems:
        raise RuleViolation(Text("The price steps break the rules of a schedule."), problems)
    return steps


def catch_up(steps: Sequence[PriceStep], applied: int, now: datetime) -> tuple[int, datetime | None]:
    """(steps applied once every step due at `now` is, when the next one falls due or None).

    Steps missed while nobody applied them are passed over: only the latest due one counts."""
    while applied < len(steps) and steps[applied].at <= now:
        applied += 1
    return applied, steps[applied].at if applied < len(steps) else None


def steps_to_json(steps: Sequence[PriceStep]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        item: dict[str, Any] = {"at": _iso(step.at), "price_cents": step.price_cents, "discount_pct": step.discount_pct}
        if step.previous_price_cents is not None:
            item["previous_price_cents"] = step.previous_price_cents
        out.append(item)
    return out


def steps_from_json(stored: Sequence[Mapping[str, Any]] | None) -> list[PriceStep]:
    return [
        PriceStep(
            at=datetime.fromisoformat(item["at"].replace("Z", "+00:00")),
            price_cents=int(item["price_cents"]),
            discount_pct=float(item["discount_pct"]),
            previous_price_cents=item.get("previous_price_cents"),
        )
        for item in stored or []
    ]


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
