"""The discount band: the pure pricing rule under hypothesis, and the same rule through the API."""
from __future__ import annotations

from fractions import Fraction
from math import ceil, floor

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from dealsvc.domain.errors import RuleViolation
from dealsvc.domain.pricing import price_offer
from dealsvc.domain.rules import Rules

ORIGINALS = st.one_of(st.integers(1, 30), st.integers(1, 10_000_000))
PERCENT = st.one_of(
    st.integers(0, 99),
    st.floats(0, 99.99, allow_nan=False),
    st.sampled_from([39.99, 40, 40.005, 50, 59.995, 60, 60.01, 99.99]),
)


@st.composite
def bands(draw) -> Rules:
    a, b = draw(PERCENT), draw(PERCENT)
    return Rules(min_discount_pct=min(a, b), max_discount_pct=max(a, b))


@st.composite
def discounts(draw, rules: Rules):
    """Anywhere in 0..100, with extra weight on and right next to the band's edges."""
    edge = draw(st.sampled_from([rules.min_discount_pct, rules.max_discount_pct]))
    return draw(
        st.one_of(
            st.floats(0, 100, allow_nan=False),
            st.integers(0, 100),
            st.just(edge),
            st.floats(max(edge - 0.01, 0), min(edge + 0.01, 100)),
        )
    )


def discount_of(original: int, price: int) -> Fraction:
    return 100 * (1 - Fraction(price, original))


def in_band(discount: Fraction, rules: Rules) -> bool:
    return Fraction(rules.min_discount_pct) <= discount <= Fraction(rules.max_discount_pct)


def acceptable_prices(original: int, rules: Rules) -> tuple[int, int]:
    """The whole-cent prices below the original whose discount lies in the band: [lo, hi],
    empty when lo > hi (computed from the band, independently of the rule under test)."""
    lo = ceil(original * (1 - Fraction(rules.max_discount_pct) / 100))
    hi = floor(original * (1 - Fraction(rules.min_discount_pct) / 100))
    return max(lo, 0), min(hi, original - 1)


def outcome(original: int, rules: Rules, **given_price):
    try:
        return price_offer(original, rules, **given_price)
    except RuleViolation as refusal:
        return refusal


@settings(max_examples=1500, deadline=None)
@given(original=ORIGINALS, data=st.data(), rules=bands())
def test_a_requested_discount_is_priced_to_the_nearest_cent_inside_the_band(original, data, rules):
    discount = data.draw(discounts(rules))
    result = outcome(original, rules, discount_pct=discount)
    lo, hi = acceptable_prices(original, rules)
    requested = Fraction(discount)

    if not in_band(requested, rules) or lo > hi:
        # Refused exactly when the discount asked for is outside the band, or no whole-cent
        # price below the original lies inside it.
        event("refused: outside the band" if not in_band(requested, rules) else "refused: no whole-cent price")
        assert isinstance(result, RuleViolation), (result, lo, hi)
        assert result.status == 422 and list(result.errors) == ["discount_pct"]
        return

    assert not isinstance(result, RuleViolation), result.errors
    assert 0 <= result.price_cents < original
    effective = discount_of(original, result.price_cents)
    assert in_band(effective, rules)
    assert result.discount_pct == round(float(effective), 2)

    exact = original * (1 - requested / 100)
    nearest = floor(exact + Fraction(1, 2))  # whole cents, halves rounded up
    if lo <= nearest <= hi:
        event("accepted: the nearest cent")
        assert result.price_cents == nearest
    else:
        event("accepted: the other neighbouring cent")
    # Whatever happened, no acceptable price is closer to the one asked for.
    closest = min(abs(p - exact) for p in {lo, hi, floor(exact), ceil(exact)} if lo <= p <= hi)
    assert abs(result.price_cents - exact) == closest


@settings(max_examples=1500, deadline=None)
@given(original=ORIGINALS, data=st.data(), rules=bands())
def test_a_given_price_is_kept_as_is_when_its_discount_is_in_the_band(original, data, rules):
    lo, hi = acceptable_prices(original, rules)
    price = data.draw(
        st.one_of(
            st.integers(0, original + 5),
            st.sampled_from([lo - 1, lo, hi, hi + 1, original - 1, original]).filter(lambda p: p >= 0),
        )
    )
    result = outcome(original, rules, price_cents=price)

    if price >= original or not in_band(discount_of(original, price), rules):
        event("refused")
        assert isinstance(result, RuleViolation)
        assert result.status == 422 and list(result.errors) == ["price_cents"]
        assert not lo <= price <= hi
        return

    event("accepted")
    assert not isinstance(result, RuleViolation), result.errors
    assert result.price_cents == price
    assert lo <= price <= hi
    assert result.discount_pct == round(float(discount_of(original, price)), 2)


@pytest.mark.parametrize(
    "original, discount, expected",
    [
        (1, 50, None),  # 0 cents is 100 % off, 1 cent is 0 % off
        (3, 50, None),  # 40–60 % of 3 cents lies strictly between 1 and 2 cents
        (5, 50, 3),  # 2.5 rounds up to 3 cents: 40 %, on the edge
        (5, 41, 3),
        (7, 50, 4),  # 3.5 -> 4 cents = 42.86 %
        (999, 50, 500),  # 499.5 -> 500 cents = 49.95 %
        (10_000_000, 60, 4_000_000),
    ],
)
def test_small_prices_at_the_edges(original, discount, expected):
    result = outcome(original, Rules(), discount_pct=discount)
    if expected is None:
        assert isinstance(result, RuleViolation) and "discount_pct" in result.errors
    else:
        assert result.price_cents == expected


def test_rounding_never_leaves_the_band_even_when_the_nearest_cent_would():
    # 2 cents at 40 % is 1.2 cents: 1 cent is nearer but is 50 % off, inside; at a band of
    # exactly 40 % the nearest cent (1 = 50 %) is outside and 2 cents is the original price.
    assert price_offer(2, Rules(), discount_pct=40).price_cents == 1
    with pytest.raises(RuleViolation) as refusal:
        price_offer(2, Rules(min_discount_pct=40, max_discount_pct=40), discount_pct=40)
    assert list(refusal.value.errors) == ["discount_pct"]
    # 7 cents at 43 % is 3.99 cents: 4 cents (42.86 %) is nearest but below a 43–60 band,
    # so the other neighbour, 3 cents (57.14 %), is stored.
    assert price_offer(7, Rules(min_discount_pct=43, max_discount_pct=60), discount_pct=43).price_cents == 3


# --- through the API -------------------------------------------------------------------


@pytest.fixture
def seller(api):
    merchant = api.merchant()
    shop = api.shop(merchant["api_key"])
    return merchant["api_key"], shop["id"]


def post_offer(api, seller, **price):
    key, shop_id = seller
    body = api.offer_body(shop_id, original_price_cents=450)
    del body["discount_pct"]
    return api.c.post("/api/v1/offers", json={**body, **price}, headers=api.h(key))


@pytest.mark.parametrize("discount, price", [(40, 270), (60, 180), (50, 225)])
def test_discounts_on_and_inside_the_default_band_are_accepted(api, seller, discount, price):
    r = post_offer(api, seller, discount_pct=discount)
    assert r.status_code == 201, r.json
    assert r.json["price_cents"] == price
    assert r.json["discount_pct"] == pytest.approx(discount)
    assert api.c.get(f"/api/v1/offers/{r.json['id']}").json["price_cents"] == price


@pytest.mark.parametrize("discount", [39.99, 60.01, 0, 100])
def test_discounts_outside_the_band_are_a_422_on_discount_pct(api, seller, discount):
    r = post_offer(api, seller, discount_pct=discount)
    assert r.status_code == 422, r.json
    assert r.mimetype == "application/problem+json"
    assert list(r.json["errors"]) == ["discount_pct"]


def test_a_price_giving_half_off_is_accepted_and_one_outside_the_band_is_not(api, seller):
    r = post_offer(api, seller, price_cents=225)
    assert r.status_code == 201, r.json
    assert (r.json["price_cents"], r.json["discount_pct"]) == (225, 50.0)

    for price in (271, 179, 450, 500):
        r = post_offer(api, seller, price_cents=price)
        assert r.status_code == 422, (price, r.json)
        assert list(r.json["errors"]) == ["price_cents"]


def test_a_new_band_applies_to_the_very_next_offer(api, seller):
    assert post_offer(api, seller, discount_pct=25).status_code == 422
    api.rules(min_discount_pct=20, max_discount_pct=30)

    r = post_offer(api, seller, discount_pct=25)
    assert r.status_code == 201, r.json
    assert r.json["price_cents"] == 338  # 337.5 rounded up
    r = post_offer(api, seller, discount_pct=40)
    assert r.status_code == 422 and "discount_pct" in r.json["errors"]
    assert "20%–30%" in r.json["detail"]

    api.rules(min_discount_pct=40, max_discount_pct=60)
    assert post_offer(api, seller, discount_pct=25).status_code == 422
    assert post_offer(api, seller, discount_pct=40).status_code == 201
