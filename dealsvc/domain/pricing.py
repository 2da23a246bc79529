"""The discount band: turning a discount or a price into the stored price, held to the operator's band."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import ceil, floor

from .errors import RuleViolation
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
    band = f"{rules.min_discount_pct:g}–{rules.max_discount_pct:g} %"
    if price_cents is not None:
        if price_cents >= original_cents:
            raise RuleViolation(
                "The price must be below the original price.",
                {"price_cents": [f"must be below original_price_cents ({original_cents})."]},
            )
        discount = effective_discount(original_cents, price_cents)
        if not in_band(discount, rules):
            raise RuleViolation(
                f"The discount must lie within {band}.",
                {"price_cents": [f"gives a discount of {float(discount):.2f} %, outside {band} (operator rules min_discount_pct, max_discount_pct)."]},
            )
        return Price(price_cents, _display(discount))

    requested = Fraction(discount_pct)
    if not in_band(requested, rules):
        raise RuleViolation(
            f"The discount must lie within {band}.",
            {"discount_pct": [f"must lie within {band} (operator rules min_discount_pct, max_discount_pct)."]},
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
        f"No whole-cent price of {original_cents} cents gives a discount within {band}.",
        {"discount_pct": [f"no price in whole cents of {original_cents} cents lies within {band}."]},
    )


def _display(discount: Fraction) -> float:
    return round(float(discount), 2)
