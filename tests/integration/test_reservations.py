"""Reservations through the API: holds with a pickup code, release, collection, and holds ending with their offer."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from dealsvc.adapters.db.models import Offer, Reservation

HERE = (45.4642, 9.1900)  # Piazza del Duomo, Milano
# Six characters read out at a counter: no 0/O, no 1/I/L.
CODE = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$")
RESERVATION_FIELDS = {"id", "offer_id", "quantity", "code", "status"}


@pytest.fixture
def owner(api):
    key = api.merchant()["api_key"]
    return key, api.shop(key, *HERE)["id"]


@pytest.fixture
def resident(api) -> str:
    return api.subscriber()["secret"]


def reserve(api, secret, offer_id, quantity=1):
    return api.c.post(f"/api/v1/offers/{offer_id}/reservations", json={"quantity": quantity}, headers=api.h(secret))


def held(api, secret, offer_id, quantity=1) -> dict:
    r = reserve(api, secret, offer_id, quantity)
    assert r.status_code == 201, r.json
    return r.json


def release(api, secret, reservation_id):
    return api.c.delete(f"/api/v1/reservations/{reservation_id}", headers=api.h(secret))


def collect(api, key, reservation_id, code):
    return api.c.post(f"/api/v1/reservations/{reservation_id}/collect", json={"code": code}, headers=api.h(key))


def offer_now(api, offer_id) -> dict:
    r = api.c.get(f"/api/v1/offers/{offer_id}")
    assert r.status_code == 200, r.json
    return r.json


def reservation_now(api, secret, reservation_id) -> dict:
    r = api.c.get(f"/api/v1/reservations/{reservation_id}", headers=api.h(secret))
    assert r.status_code == 200, r.json
    return r.json


def deal_ids(api) -> list[str]:
    r = api.c.get("/api/v1/deals", query_string={"lat": HERE[0], "lon": HERE[1]})
    assert r.status_code == 200, r.json
    return [d["id"] for d in r.json["items"]]


def stats(api, key, offer_id) -> dict:
    r = api.c.get(f"/api/v1/offers/{offer_id}/stats", headers=api.h(key))
    assert r.status_code == 200, r.json
    return r.json


def stored_statuses(container, offer_id) -> dict[str, int]:
    """Reservation quantities by stored status, as the database has them."""
    with container.db.read() as s:
        return dict(
            s.execute(
                select(Reservation.status, func.sum(Reservation.quantity))
                .where(Reservation.offer_id == offer_id)
                .group_by(Reservation.status)
            ).all()
        )


def assert_stock_adds_up(container, offer_id) -> None:
    """What residents hold or collected plus what is left is exactly the offer's quantity."""
    by_status = stored_statuses(container, offer_id)
    with container.db.read() as s:
        offer = s.get(Offer, offer_id)
        quantity, left = offer.quantity, offer.quantity_left
    taken = by_status.get("held", 0) + by_status.get("collected", 0)
    assert taken + left == quantity, (by_status, left, quantity)
    assert 0 <= left <= quantity


def move_expiry_into_the_past(container, offer_id) -> None:
    """The clock passes expires_at while nothing (no scheduler) has touched the row."""
    with container.db.write() as s:
        s.execute(
            update(Offer).where(Offer.id == offer_id).values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))
        )


def problem(r, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.json)
    assert r.mimetype == "application/problem+json", r.mimetype
    assert r.json["status"] == status
    return r.json


# --- holding stock ---------------------------------------------------------------------------


def test_a_reservation_holds_stock_and_carries_a_short_code(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=5)

    r = reserve(api, resident, offer["id"], 2)

    assert r.status_code == 201, r.json
    assert RESERVATION_FIELDS <= set(r.json)
    assert (r.json["offer_id"], r.json["quantity"], r.json["status"]) == (offer["id"], 2, "held")
    assert CODE.match(r.json["code"]), r.json["code"]
    assert offer_now(api, offer["id"])["quantity_left"] == 3
    assert reservation_now(api, resident, r.json["id"]) == r.json
    assert stored_statuses(container, offer["id"]) == {"held": 2}
    assert_stock_adds_up(container, offer["id"])


def test_pickup_codes_use_only_unambiguous_characters(api, owner, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=60)
    codes = [held(api, api.subscriber()["secret"], offer["id"])["code"] for _ in range(60)]

    assert all(CODE.match(c) for c in codes), [c for c in codes if not CODE.match(c)]
    assert len(set(codes)) > 50  # random, not a counter or a constant
    assert offer_now(api, offer["id"])["quantity_left"] == 0
    assert_stock_adds_up(container, offer["id"])


def test_more_than_is_left_is_a_conflict_naming_the_quantity(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=3)
    held(api, resident, offer["id"], 2)

    body = problem(reserve(api, api.subscriber()["secret"], offer["id"], 2), 409)

    assert "quantity" in body["errors"], body
    assert offer_now(api, offer["id"])["quantity_left"] == 1
    assert stored_statuses(container, offer["id"]) == {"held": 2}
    # What is left can still be had.
    held(api, resident, offer["id"], 1)
    assert_stock_adds_up(container, offer["id"])


def test_the_last_unit_sells_the_offer_out_and_unlists_it(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=2)
    assert offer["id"] in deal_ids(api)

    held(api, resident, offer["id"], 1)
    assert offer_now(api, offer["id"])["status"] == "active"
    held(api, api.subscriber()["secret"], offer["id"], 1)

    now = offer_now(api, offer["id"])
    assert (now["status"], now["quantity_left"]) == ("sold_out", 0)
    assert offer["id"] not in deal_ids(api)
    problem(reserve(api, api.subscriber()["secret"], offer["id"], 1), 409)
    assert stored_statuses(container, offer["id"]) == {"held": 2}
    assert_stock_adds_up(container, offer["id"])


def test_a_cancelled_offer_cannot_be_reserved(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=4)
    r = api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": "cancelled"}, headers=api.h(key))
    assert r.status_code == 200, r.json

    problem(reserve(api, resident, offer["id"], 1), 409)

    assert offer_now(api, offer["id"])["quantity_left"] == 4
    assert stored_statuses(container, offer["id"]) == {}
    assert_stock_adds_up(container, offer["id"])


def test_an_expired_offer_is_refused_before_the_scheduler_has_swept_it(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=4)
    move_expiry_into_the_past(container, offer["id"])

    problem(reserve(api, resident, offer["id"], 1), 409)

    with container.db.read() as s:
        stored = s.get(Offer, offer["id"])
        assert (stored.status, stored.quantity_left) == ("active", 4)  # not swept, nothing taken
    assert offer_now(api, offer["id"])["status"] == "expired"
    assert stored_statuses(container, offer["id"]) == {}
    assert_stock_adds_up(container, offer["id"])


def test_reserving_an_offer_that_does_not_exist_is_a_404(api, resident):
    problem(reserve(api, resident, "off_doesnotexist", 1), 404)


def test_only_a_resident_can_reserve(api, owner, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=4)

    problem(reserve(api, None, offer["id"], 1), 401)
    problem(reserve(api, "dss_not-a-real-secret", offer["id"], 1), 401)
    problem(reserve(api, key, offer["id"], 1), 403)

    assert offer_now(api, offer["id"])["quantity_left"] == 4
    assert stored_statuses(container, offer["id"]) == {}


# --- releasing -------------------------------------------------------------------------------


def test_releasing_a_hold_gives_the_stock_back_once(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=5)
    reservation = held(api, resident, offer["id"], 2)

    r = release(api, resident, reservation["id"])

    assert r.status_code == 200, r.json
    assert (r.json["id"], r.json["status"]) == (reservation["id"], "released")
    assert offer_now(api, offer["id"])["quantity_left"] == 5
    assert reservation_now(api, resident, reservation["id"])["status"] == "released"
    assert_stock_adds_up(container, offer["id"])

    problem(release(api, resident, reservation["id"]), 409)
    assert offer_now(api, offer["id"])["quantity_left"] == 5  # not given back twice
    assert stored_statuses(container, offer["id"]) == {"released": 2}
    assert_stock_adds_up(container, offer["id"])


def test_releasing_a_hold_on_a_sold_out_offer_makes_it_active_again(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=3)
    first = held(api, resident, offer["id"], 2)
    held(api, api.subscriber()["secret"], offer["id"], 1)
    assert offer_now(api, offer["id"])["status"] == "sold_out"
    assert offer["id"] not in deal_ids(api)

    assert release(api, resident, first["id"]).status_code == 200

    now = offer_now(api, offer["id"])
    assert (now["status"], now["quantity_left"]) == ("active", 2)
    assert offer["id"] in deal_ids(api)
    held(api, api.subscriber()["secret"], offer["id"], 2)
    assert offer_now(api, offer["id"])["status"] == "sold_out"
    assert_stock_adds_up(container, offer["id"])


def test_only_its_resident_can_release_a_reservation(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=5)
    reservation = held(api, resident, offer["id"], 2)

    problem(release(api, api.subscriber()["secret"], reservation["id"]), 404)
    assert release(api, key, reservation["id"]).status_code in (403, 404)
    problem(release(api, None, reservation["id"]), 401)
    problem(api.c.get(f"/api/v1/reservations/{reservation['id']}", headers=api.h(api.subscriber()["secret"])), 404)

    assert reservation_now(api, resident, reservation["id"])["status"] == "held"
    assert offer_now(api, offer["id"])["quantity_left"] == 3
    assert_stock_adds_up(container, offer["id"])


def test_releasing_a_reservation_that_does_not_exist_is_a_404(api, resident):
    problem(release(api, resident, "res_doesnotexist"), 404)


# --- collecting ------------------------------------------------------------------------------


def test_the_shop_collects_a_hold_with_its_code_in_any_case(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=5)
    reservation = held(api, resident, offer["id"], 2)

    r = collect(api, key, reservation["id"], reservation["code"].lower())

    assert r.status_code == 200, r.json
    assert (r.json["id"], r.json["status"], r.json["quantity"]) == (reservation["id"], "collected", 2)
    assert reservation_now(api, resident, reservation["id"])["status"] == "collected"
    assert offer_now(api, offer["id"])["quantity_left"] == 3  # collected stock stays taken
    assert stored_statuses(container, offer["id"]) == {"collected": 2}
    assert_stock_adds_up(container, offer["id"])


def test_a_wrong_code_is_refused_and_the_hold_stays(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=5)
    reservation = held(api, resident, offer["id"], 1)
    wrong = "".join("2" if ch != "2" else "3" for ch in reservation["code"])

    body = problem(collect(api, key, reservation["id"], wrong), 422)

    assert "code" in body["errors"], body
    assert reservation_now(api, resident, reservation["id"])["status"] == "held"
    assert collect(api, key, reservation["id"], reservation["code"]).status_code == 200
    assert_stock_adds_up(container, offer["id"])


def test_only_the_shops_merchant_can_collect(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=5)
    reservation = held(api, resident, offer["id"], 1)
    stranger = api.merchant()["api_key"]
    api.shop(stranger, *HERE)

    problem(collect(api, stranger, reservation["id"], reservation["code"]), 404)
    problem(collect(api, None, reservation["id"], reservation["code"]), 401)
    assert collect(api, resident, reservation["id"], reservation["code"]).status_code in (403, 404)

    assert reservation_now(api, resident, reservation["id"])["status"] == "held"
    assert_stock_adds_up(container, offer["id"])


def test_a_reservation_is_collected_once_and_never_after_release(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=5)
    collected = held(api, resident, offer["id"], 1)
    released = held(api, resident, offer["id"], 2)
    assert collect(api, key, collected["id"], collected["code"]).status_code == 200
    assert release(api, resident, released["id"]).status_code == 200

    problem(collect(api, key, collected["id"], collected["code"]), 409)
    problem(collect(api, key, released["id"], released["code"]), 409)
    problem(release(api, resident, collected["id"]), 409)  # what was picked up is not given back

    assert reservation_now(api, resident, released["id"])["status"] == "released"
    assert offer_now(api, offer["id"])["quantity_left"] == 4
    assert stored_statuses(container, offer["id"]) == {"collected": 1, "released": 2}
    assert_stock_adds_up(container, offer["id"])


# --- holds end with their offer --------------------------------------------------------------


def test_cancelling_the_offer_releases_its_holds(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=6)
    hold_a = held(api, resident, offer["id"], 2)
    other = api.subscriber()["secret"]
    hold_b = held(api, other, offer["id"], 1)
    picked_up = held(api, other, offer["id"], 1)
    assert collect(api, key, picked_up["id"], picked_up["code"]).status_code == 200

    r = api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": "cancelled"}, headers=api.h(key))
    assert r.status_code == 200, r.json

    assert reservation_now(api, resident, hold_a["id"])["status"] == "released"
    assert reservation_now(api, other, hold_b["id"])["status"] == "released"
    assert reservation_now(api, other, picked_up["id"])["status"] == "collected"
    assert stored_statuses(container, offer["id"]) == {"released": 3, "collected": 1}
    problem(release(api, resident, hold_a["id"]), 409)
    problem(collect(api, key, hold_b["id"], hold_b["code"]), 409)
    assert (stats(api, key, offer["id"])["reserved"], stats(api, key, offer["id"])["collected"]) == (0, 1)
    assert_stock_adds_up(container, offer["id"])


def test_cancelling_a_sold_out_offer_releases_its_holds(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=2)
    hold = held(api, resident, offer["id"], 2)
    assert offer_now(api, offer["id"])["status"] == "sold_out"

    r = api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": "cancelled"}, headers=api.h(key))
    assert r.status_code == 200, r.json

    assert reservation_now(api, resident, hold["id"])["status"] == "released"
    assert stored_statuses(container, offer["id"]) == {"released": 2}
    assert offer_now(api, offer["id"])["status"] == "cancelled"
    assert_stock_adds_up(container, offer["id"])


def test_expiry_ends_the_holds_as_expired(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=4)
    hold = held(api, resident, offer["id"], 2)
    picked_up = held(api, resident, offer["id"], 1)
    assert collect(api, key, picked_up["id"], picked_up["code"]).status_code == 200
    move_expiry_into_the_past(container, offer["id"])

    # Before the sweep the hold already reads as expired and can be neither released nor collected.
    assert reservation_now(api, resident, hold["id"])["status"] == "expired"
    problem(collect(api, key, hold["id"], hold["code"]), 409)
    problem(release(api, resident, hold["id"]), 409)

    assert container.expiry.expire_due() == [offer["id"]]

    assert stored_statuses(container, offer["id"]) == {"expired": 2, "collected": 1}
    assert reservation_now(api, resident, hold["id"])["status"] == "expired"
    assert reservation_now(api, resident, picked_up["id"])["status"] == "collected"
    assert offer_now(api, offer["id"])["status"] == "expired"
    assert container.expiry.expire_due() == []  # once
    assert_stock_adds_up(container, offer["id"])


def test_expiry_of_a_sold_out_offer_ends_its_holds(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=1)
    hold = held(api, resident, offer["id"], 1)
    move_expiry_into_the_past(container, offer["id"])

    assert container.expiry.expire_due() == [offer["id"]]

    assert reservation_now(api, resident, hold["id"])["status"] == "expired"
    assert stored_statuses(container, offer["id"]) == {"expired": 1}
    assert offer_now(api, offer["id"])["status"] == "expired"
    assert_stock_adds_up(container, offer["id"])


# --- what the shop sees ----------------------------------------------------------------------


def test_stats_count_reserved_and_collected_quantities(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=10)
    a = held(api, resident, offer["id"], 2)
    b = held(api, api.subscriber()["secret"], offer["id"], 2)
    held(api, api.subscriber()["secret"], offer["id"], 1)
    assert (stats(api, key, offer["id"])["reserved"], stats(api, key, offer["id"])["collected"]) == (5, 0)

    assert collect(api, key, b["id"], b["code"]).status_code == 200
    assert release(api, resident, a["id"]).status_code == 200

    now = stats(api, key, offer["id"])
    assert (now["reserved"], now["collected"]) == (1, 2)
    problem(api.c.get(f"/api/v1/offers/{offer['id']}/stats", headers=api.h(api.merchant()["api_key"])), 404)
    assert_stock_adds_up(container, offer["id"])


def test_the_owner_lists_an_offers_reservations(api, owner, resident, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=10)
    a = held(api, resident, offer["id"], 1)
    b = held(api, api.subscriber()["secret"], offer["id"], 2)
    assert release(api, resident, a["id"]).status_code == 200
    untouched = api.offer(key, shop_id, quantity=2)

    r = api.c.get(f"/api/v1/offers/{offer['id']}/reservations", headers=api.h(key))

    assert r.status_code == 200, r.json
    listed = {item["id"]: (item["quantity"], item["status"], item["offer_id"]) for item in r.json["items"]}
    assert listed == {a["id"]: (1, "released", offer["id"]), b["id"]: (2, "held", offer["id"])}
    empty = api.c.get(f"/api/v1/offers/{untouched['id']}/reservations", headers=api.h(key))
    assert (empty.status_code, empty.json["items"]) == (200, [])
    assert_stock_adds_up(container, offer["id"])


def test_only_the_owner_lists_an_offers_reservations(api, owner, resident):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=10)
    held(api, resident, offer["id"], 1)
    path = f"/api/v1/offers/{offer['id']}/reservations"

    problem(api.c.get(path, headers=api.h(api.merchant()["api_key"])), 404)
    problem(api.c.get(path, headers=api.h(resident)), 403)
    problem(api.c.get(path), 401)


def test_a_resident_lists_their_own_reservations_with_codes_newest_first(api):
    merchant = api.merchant()
    shop = api.shop(merchant["api_key"])
    first, second = (api.offer(merchant["api_key"], shop["id"]) for _ in range(2))
    sub, other = api.subscriber(), api.subscriber()
    mine = []
    for offer in (first, second):
        r = api.c.post(f"/api/v1/offers/{offer['id']}/reservations", json={"quantity": 1}, headers=api.h(sub["secret"]))
        assert r.status_code == 201
        mine.append(r.json)
    api.c.post(f"/api/v1/offers/{first['id']}/reservations", json={"quantity": 1}, headers=api.h(other["secret"]))
    assert api.c.delete(f"/api/v1/reservations/{mine[0]['id']}", headers=api.h(sub["secret"])).status_code == 200

    r = api.c.get(f"/api/v1/subscribers/{sub['id']}/reservations", headers=api.h(sub["secret"]))
    assert r.status_code == 200
    listed = r.json["items"]
    assert [x["id"] for x in listed] == [mine[1]["id"], mine[0]["id"]]  # newest first, the other's not
    assert [x["status"] for x in listed] == ["held", "released"]
    assert listed[0]["code"] == mine[1]["code"] and listed[0]["offer_id"] == second["id"]

    # Another resident's list: a 404 for a resident, a 403 for a merchant.
    assert api.c.get(f"/api/v1/subscribers/{sub['id']}/reservations", headers=api.h(other["secret"])).status_code == 404
    assert api.c.get(f"/api/v1/subscribers/{sub['id']}/reservations", headers=api.h(merchant["api_key"])).status_code == 403
    assert api.c.get(f"/api/v1/subscribers/{sub['id']}/reservations").status_code == 401
