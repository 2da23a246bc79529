"""Idempotency-Key on posting offers and on reserving: replays, misuse, per-caller keys, concurrent twins."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import func, select

from dealsvc.adapters.db.models import Offer, Reservation

HERE = (45.4642, 9.1900)  # Piazza del Duomo, Milano
# One gunicorn for the module's tests on each database (tests/support/gunicorn.py): the twins'
# keys and answers are kept in the database, which each test starts empty; the server keeps nothing.
ONE_SERVER_PER_MODULE = True


@pytest.fixture
def owner(api):
    key = api.merchant()["api_key"]
    return key, api.shop(key, *HERE)["id"]


def with_key(api, secret, key) -> dict[str, str]:
    return {**api.h(secret), "Idempotency-Key": key}


def post_offer(api, secret, body, key):
    return api.c.post("/api/v1/offers", json=body, headers=with_key(api, secret, key))


def post_reservation(api, secret, offer_id, quantity, key):
    return api.c.post(
        f"/api/v1/offers/{offer_id}/reservations", json={"quantity": quantity}, headers=with_key(api, secret, key)
    )


def count(container, model, **where) -> int:
    with container.db.read() as s:
        q = select(func.count()).select_from(model)
        for column, value in where.items():
            q = q.where(getattr(model, column) == value)
        return s.scalar(q)


def quantity_left(api, offer_id) -> int:
    r = api.c.get(f"/api/v1/offers/{offer_id}")
    assert r.status_code == 200, r.json
    return r.json["quantity_left"]


def assert_key_misuse(r) -> None:
    assert r.status_code == 422, (r.status_code, r.json)
    assert r.mimetype == "application/problem+json"
    assert "Idempotency-Key" in r.json["errors"], r.json


def assert_bad_key(r) -> None:
    assert r.status_code == 400, (r.status_code, r.json)
    assert r.mimetype == "application/problem+json"


BAD_KEYS = ["", "k" * 201, "two words", "tab\there", "caf\u00e9"]


# --- posting offers --------------------------------------------------------------------------


def test_the_same_key_and_body_replays_the_offer_it_posted(api, owner, container):
    secret, shop_id = owner
    body = api.offer_body(shop_id, title="Focaccia")

    first = post_offer(api, secret, body, "offer-1")
    again = post_offer(api, secret, body, "offer-1")

    assert first.status_code == 201, first.json
    assert again.status_code == 201, again.json
    assert again.get_data() == first.get_data()  # byte for byte the first answer
    assert count(container, Offer) == 1
    # Without a key, the same body is another offer.
    assert api.c.post("/api/v1/offers", json=body, headers=api.h(secret)).status_code == 201
    assert count(container, Offer) == 2


def test_a_replay_answers_with_the_first_offer_even_after_it_changed(api, owner, container):
    secret, shop_id = owner
    # An offset that is not UTC: the replay must not leak it, the first answer did not either.
    expires = (datetime.now(timezone(timedelta(hours=1))) + timedelta(hours=2)).isoformat()
    body = api.offer_body(shop_id, expires_at=expires, quantity=4)
    first = post_offer(api, secret, body, "offer-edit")
    assert first.status_code == 201, first.json
    assert first.json["expires_at"].endswith("Z"), first.json["expires_at"]
    r = api.c.patch(f"/api/v1/offers/{first.json['id']}", json={"quantity": 9}, headers=api.h(secret))
    assert r.status_code == 200, r.json

    again = post_offer(api, secret, body, "offer-edit")

    assert again.status_code == 201
    assert again.json == first.json
    assert count(container, Offer) == 1


def test_the_same_key_with_another_body_is_refused(api, owner, container):
    secret, shop_id = owner
    body = api.offer_body(shop_id)
    assert post_offer(api, secret, body, "offer-2").status_code == 201

    assert_key_misuse(post_offer(api, secret, {**body, "quantity": body["quantity"] + 1}, "offer-2"))
    assert_key_misuse(post_offer(api, secret, {**body, "title": "Altro pane"}, "offer-2"))
    assert count(container, Offer) == 1


def test_offer_keys_belong_to_their_merchant(api, owner, container):
    secret, shop_id = owner
    other_secret = api.merchant()["api_key"]
    other_shop = api.shop(other_secret, *HERE)["id"]

    mine = post_offer(api, secret, api.offer_body(shop_id), "shared-key")
    theirs = post_offer(api, other_secret, api.offer_body(other_shop), "shared-key")

    assert (mine.status_code, theirs.status_code) == (201, 201), (mine.json, theirs.json)
    assert mine.json["id"] != theirs.json["id"]
    assert (mine.json["shop_id"], theirs.json["shop_id"]) == (shop_id, other_shop)
    assert count(container, Offer) == 2
    # Another merchant replaying the first merchant's exact request does not get their offer.
    stolen = post_offer(api, other_secret, api.offer_body(shop_id), "stolen-key")
    assert stolen.status_code == 404, stolen.json
    assert post_offer(api, secret, api.offer_body(shop_id), "stolen-key").status_code == 201


@pytest.mark.parametrize("bad_key", BAD_KEYS, ids=["empty", "201-chars", "space", "tab", "non-ascii"])
def test_a_malformed_offer_key_is_a_400(api, owner, container, bad_key):
    secret, shop_id = owner
    assert_bad_key(post_offer(api, secret, api.offer_body(shop_id), bad_key))
    assert count(container, Offer) == 0


def test_a_key_of_200_printable_characters_is_accepted(api, owner, container):
    secret, shop_id = owner
    key = ("Ab9-_.~!" * 25)[:200]
    body = api.offer_body(shop_id)

    first = post_offer(api, secret, body, key)
    again = post_offer(api, secret, body, key)

    assert (first.status_code, again.status_code) == (201, 201), (first.json, again.json)
    assert again.json == first.json
    assert count(container, Offer) == 1


def test_a_refused_offer_does_not_use_up_its_key(api, owner, container):
    secret, shop_id = owner
    too_cheap = api.offer_body(shop_id, discount_pct=90)
    r = post_offer(api, secret, too_cheap, "retry-me")
    assert r.status_code == 422, r.json

    fixed = api.offer_body(shop_id, discount_pct=50)
    assert post_offer(api, secret, fixed, "retry-me").status_code == 201
    assert count(container, Offer) == 1


# --- reserving -------------------------------------------------------------------------------


def test_the_same_key_and_body_replays_the_reservation(api, owner, container):
    secret, shop_id = owner
    offer = api.offer(secret, shop_id, quantity=5)
    resident = api.subscriber()["secret"]

    first = post_reservation(api, resident, offer["id"], 2, "res-1")
    again = post_reservation(api, resident, offer["id"], 2, "res-1")

    assert first.status_code == 201, first.json
    assert again.status_code == 201, again.json
    assert again.get_data() == first.get_data()
    assert count(container, Reservation) == 1
    assert quantity_left(api, offer["id"]) == 3  # taken once


def test_a_reservation_replays_even_after_the_offer_sold_out(api, owner, container):
    secret, shop_id = owner
    offer = api.offer(secret, shop_id, quantity=2)
    resident = api.subscriber()["secret"]
    first = post_reservation(api, resident, offer["id"], 1, "res-late")
    assert first.status_code == 201, first.json
    assert post_reservation(api, api.subscriber()["secret"], offer["id"], 1, "other").status_code == 201

    again = post_reservation(api, resident, offer["id"], 1, "res-late")

    assert again.status_code == 201, again.json
    assert again.json == first.json
    assert count(container, Reservation) == 2
    assert quantity_left(api, offer["id"]) == 0


def test_the_same_reservation_key_with_another_quantity_is_refused(api, owner, container):
    secret, shop_id = owner
    offer = api.offer(secret, shop_id, quantity=5)
    resident = api.subscriber()["secret"]
    assert post_reservation(api, resident, offer["id"], 1, "res-2").status_code == 201

    assert_key_misuse(post_reservation(api, resident, offer["id"], 2, "res-2"))
    assert count(container, Reservation) == 1
    assert quantity_left(api, offer["id"]) == 4


def test_reservation_keys_belong_to_their_resident(api, owner, container):
    secret, shop_id = owner
    offer = api.offer(secret, shop_id, quantity=5)
    alice, bob = api.subscriber()["secret"], api.subscriber()["secret"]

    a = post_reservation(api, alice, offer["id"], 1, "my-phone-retry")
    b = post_reservation(api, bob, offer["id"], 1, "my-phone-retry")

    assert (a.status_code, b.status_code) == (201, 201), (a.json, b.json)
    assert a.json["id"] != b.json["id"]
    assert count(container, Reservation) == 2
    assert quantity_left(api, offer["id"]) == 3
    mine = api.c.get(f"/api/v1/reservations/{b.json['id']}", headers=api.h(bob))
    assert mine.status_code == 200 and mine.json["id"] == b.json["id"]


@pytest.mark.parametrize("bad_key", BAD_KEYS, ids=["empty", "201-chars", "space", "tab", "non-ascii"])
def test_a_malformed_reservation_key_is_a_400(api, owner, container, bad_key):
    secret, shop_id = owner
    offer = api.offer(secret, shop_id, quantity=5)
    assert_bad_key(post_reservation(api, api.subscriber()["secret"], offer["id"], 1, bad_key))
    assert count(container, Reservation) == 0
    assert quantity_left(api, offer["id"]) == 5


def test_a_refused_reservation_does_not_use_up_its_key(api, owner, container):
    secret, shop_id = owner
    offer = api.offer(secret, shop_id, quantity=1)
    resident = api.subscriber()["secret"]
    r = post_reservation(api, resident, offer["id"], 2, "ask-again")
    assert r.status_code == 409, r.json

    assert post_reservation(api, resident, offer["id"], 1, "ask-again").status_code == 201
    assert count(container, Reservation) == 1
    assert quantity_left(api, offer["id"]) == 0


# --- concurrent twins against the real server -------------------------------------------------


def _twins(url: str, headers: dict[str, str], body: dict, copies: int = 2) -> list[requests.Response]:
    """The same request sent by several threads at the same instant, each on its own connection."""
    barrier = threading.Barrier(copies)
    answers: list[requests.Response | BaseException] = [None] * copies  # type: ignore[list-item]

    def send(i: int) -> None:
        with requests.Session() as http:
            try:
                barrier.wait(timeout=30)
                answers[i] = http.post(url, json=body, headers=headers, timeout=60)
            except BaseException as exc:  # reported below, in the test's thread
                answers[i] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a in answers:
        assert isinstance(a, requests.Response), a
    return answers  # type: ignore[return-value]


def test_concurrent_twins_post_one_offer_and_get_the_same_answer(api, owner, container, multiworker_server):
    secret, shop_id = owner
    url = multiworker_server.url + "/api/v1/offers"
    rounds = 12
    for n in range(rounds):
        headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": f"twin-offer-{n}"}
        answers = _twins(url, headers, api.offer_body(shop_id, title=f"Pane {n}"))
        assert [a.status_code for a in answers] == [201, 201], [(a.status_code, a.text) for a in answers]
        assert answers[0].json() == answers[1].json()
    assert count(container, Offer) == rounds


def test_concurrent_twins_reserve_once_and_get_the_same_answer(api, owner, container, multiworker_server):
    secret, shop_id = owner
    offer = api.offer(secret, shop_id, quantity=50)
    url = f"{multiworker_server.url}/api/v1/offers/{offer['id']}/reservations"
    rounds = 12
    for n in range(rounds):
        resident = api.subscriber()["secret"]
        headers = {"Authorization": f"Bearer {resident}", "Idempotency-Key": f"twin-res-{n}"}
        answers = _twins(url, headers, {"quantity": 2})
        assert [a.status_code for a in answers] == [201, 201], [(a.status_code, a.text) for a in answers]
        assert answers[0].json() == answers[1].json()
    assert count(container, Reservation, offer_id=offer["id"]) == rounds
    assert quantity_left(api, offer["id"]) == 50 - 2 * rounds
