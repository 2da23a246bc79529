"""Who may touch what: every route that takes an id, against every kind of caller."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.api import ADMIN_TOKEN
from tests.support.snapshots import built_once

PROBLEM_JSON = "application/problem+json"
MISSING = {"shop": "shp_000000000000000000000000", "offer": "off_000000000000000000000000",
           "subscriber": "sub_000000000000000000000000", "merchant": "mer_000000000000000000000000"}

# A resident's place, precise enough that it cannot turn up in an answer by chance.
HOME_LAT, HOME_LON = 45.4651234, 9.1912345


@dataclass
class Cast:
    """Two merchants with a shop each (A also has an offer), two residents, and the operator."""

    merchant_a: dict
    merchant_b: dict
    shop_a: dict
    shop_b: dict
    offer_a: dict
    resident: dict  # the owner of the subscriber routes; follows shop A
    neighbour: dict  # another resident

    def ids(self, missing: bool) -> dict[str, str]:
        if missing:
            return {"shop_id": MISSING["shop"], "offer_id": MISSING["offer"], "other_shop_id": MISSING["shop"],
                    "subscriber_id": MISSING["subscriber"], "merchant_id": MISSING["merchant"]}
        return {"shop_id": self.shop_a["id"], "offer_id": self.offer_a["id"], "other_shop_id": self.shop_b["id"],
                "subscriber_id": self.resident["id"], "merchant_id": self.merchant_b["id"]}


@pytest.fixture
def cast(request, container, api) -> Cast:
    """Signed up through the API once per module and database, put back before each test."""
    def build() -> Cast:
        a = api.merchant(name="Forno Rossi")
        b = api.merchant(name="Pasticceria Verdi")
        shop_a = api.shop(a["api_key"], lat=45.4642, lon=9.1900)
        shop_b = api.shop(b["api_key"], lat=45.4700, lon=9.1950)
        offer_a = api.offer(a["api_key"], shop_a["id"])
        resident = api.subscriber(lat=HOME_LAT, lon=HOME_LON, radius_m=1500)
        neighbour = api.subscriber(lat=45.4660, lon=9.1880)
        r = api.c.post(f"/api/v1/subscribers/{resident['id']}/favorites", json={"shop_id": shop_a["id"]},
                       headers=api.h(resident["secret"]))
        assert r.status_code == 201, r.json
        return Cast(a, b, shop_a, shop_b, offer_a, resident, neighbour)

    return built_once(request, container, build)


def _authorization(cast: Cast, api, caller: str) -> dict[str, str]:
    if caller == "anonymous":
        return {}
    if caller == "basic_auth":
        return {"Authorization": "Basic b3BlcmF0b3I6c2VjcmV0"}
    if caller == "deleted_subscriber":
        gone = api.subscriber(lat=45.0, lon=9.0)
        r = api.c.delete(f"/api/v1/subscribers/{gone['id']}", headers=api.h(gone["secret"]))
        assert r.status_code == 204
        return api.h(gone["secret"])
    secret = {
        "merchant_a": cast.merchant_a["api_key"],
        "merchant_b": cast.merchant_b["api_key"],
        "resident": cast.resident["secret"],
        "neighbour": cast.neighbour["secret"],
        "operator": ADMIN_TOKEN,
        "bad_token": "not-a-token",
        "unissued_merchant_key": "dsm_" + "A" * 43,
        "unissued_subscriber_secret": "dss_" + "A" * 43,
        "operator_token_with_suffix": ADMIN_TOKEN + "x",
    }[caller]
    return api.h(secret)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any] | None = None
    query: dict[str, str] | None = None

    def send(self, client, ids: dict[str, str], headers: dict[str, str]):
        body = None
        if self.body is not None:
            body = {k: (v.format(**ids) if isinstance(v, str) else v) for k, v in self.body.items()}
        query = {k: v.format(**ids) for k, v in (self.query or {}).items()} or None
        return client.open(self.path.format(**ids), method=self.method, json=body, query_string=query, headers=headers)


def _offer_body() -> dict[str, Any]:
    from datetime import datetime, timedelta, timezone

    return {
        "shop_id": "{shop_id}",
        "title": "Cornetti",
        "category": "bakery",
        "original_price_cents": 300,
        "price_cents": 150,
        "quantity": 4,
        "expires_at": (datetime.now(timezone.utc) + timedelta(hours=3)).isoformat(),
    }


ROUTES = {
    "get_shop": Request("GET", "/api/v1/shops/{shop_id}"),
    "patch_shop": Request("PATCH", "/api/v1/shops/{shop_id}", {"opening_hours": "Mo-Sa 07:00-19:30"}),
    "get_offer": Request("GET", "/api/v1/offers/{offer_id}"),
    "patch_offer": Request("PATCH", "/api/v1/offers/{offer_id}", {"quantity": 9}),
    "cancel_offer": Request("PATCH", "/api/v1/offers/{offer_id}", {"status": "cancelled"}),
    "list_offers": Request("GET", "/api/v1/offers", query={"shop_id": "{shop_id}"}),
    "post_offer": Request("POST", "/api/v1/offers", _offer_body()),
    "get_subscriber": Request("GET", "/api/v1/subscribers/{subscriber_id}"),
    "patch_subscriber": Request("PATCH", "/api/v1/subscribers/{subscriber_id}", {"radius_m": 700, "lat": 45.0, "lon": 9.0}),
    "delete_subscriber": Request("DELETE", "/api/v1/subscribers/{subscriber_id}"),
    "list_favorites": Request("GET", "/api/v1/subscribers/{subscriber_id}/favorites"),
    "follow_shop": Request("POST", "/api/v1/subscribers/{subscriber_id}/favorites", {"shop_id": "{other_shop_id}"}),
    "unfollow_shop": Request("DELETE", "/api/v1/subscribers/{subscriber_id}/favorites/{shop_id}"),
    "unfollow_shop_by_body": Request("DELETE", "/api/v1/subscribers/{subscriber_id}/favorites", {"shop_id": "{shop_id}"}),
    "moderate_merchant": Request("PATCH", "/api/v1/admin/merchants/{merchant_id}", {"status": "suspended"}),
    "export_subscriber": Request("GET", "/api/v1/subscribers/{subscriber_id}/export"),
    "erase_merchant": Request("POST", "/api/v1/admin/merchants/{merchant_id}/erase"),
}

UNAUTHENTICATED = ["anonymous", "bad_token", "basic_auth", "unissued_merchant_key",
                   "unissued_subscriber_secret", "operator_token_with_suffix", "deleted_subscriber"]

# route -> {caller: expected status}
MATRIX: dict[str, dict[str, int]] = {
    "get_shop": {"anonymous": 200, "merchant_a": 200, "merchant_b": 200, "resident": 200, "operator": 200},
    "get_offer": {"anonymous": 200, "merchant_a": 200, "merchant_b": 200, "resident": 200, "operator": 200},
    "patch_shop": {"merchant_a": 200, "merchant_b": 404, "resident": 403, "operator": 403,
                   **{c: 401 for c in UNAUTHENTICATED}},
    "patch_offer": {"merchant_a": 200, "merchant_b": 404, "resident": 403, "operator": 403,
                    **{c: 401 for c in UNAUTHENTICATED}},
    "cancel_offer": {"merchant_a": 200, "merchant_b": 404, "resident": 403, "operator": 403,
                     **{c: 401 for c in UNAUTHENTICATED}},
    "list_offers": {"merchant_a": 200, "merchant_b": 404, "resident": 403, "operator": 403,
                    **{c: 401 for c in UNAUTHENTICATED}},
    "post_offer": {"merchant_a": 201, "merchant_b": 404, "resident": 403, "operator": 403,
                   **{c: 401 for c in UNAUTHENTICATED}},
    "get_subscriber": {"resident": 200, "neighbour": 404, "merchant_a": 403, "operator": 403,
                       **{c: 401 for c in UNAUTHENTICATED}},
    "patch_subscriber": {"resident": 200, "neighbour": 404, "merchant_a": 403, "operator": 403,
                         **{c: 401 for c in UNAUTHENTICATED}},
    "delete_subscriber": {"resident": 204, "neighbour": 404, "merchant_a": 403, "operator": 403,
                          **{c: 401 for c in UNAUTHENTICATED}},
    **{route: {"resident": ok, "neighbour": 404, "merchant_a": 403, "operator": 403, **{c: 401 for c in UNAUTHENTICATED}}
       for route, ok in (("list_favorites", 200), ("follow_shop", 201), ("unfollow_shop", 204), ("unfollow_shop_by_body", 204),
                         ("export_subscriber", 200))},
    # merchant_b is the merchant being moderated: it may not lift its own suspension either.
    "moderate_merchant": {"operator": 200, "merchant_a": 403, "merchant_b": 403, "resident": 403,
                          **{c: 401 for c in UNAUTHENTICATED}},
    # merchant_b is the merchant being erased: only the operator may.
    "erase_merchant": {"operator": 200, "merchant_a": 403, "merchant_b": 403, "resident": 403,
                       **{c: 401 for c in UNAUTHENTICATED}},
}

CASES = [pytest.param(route, caller, status, id=f"{route}-{caller}-{status}")
         for route, row in MATRIX.items() for caller, status in row.items()]


def _observable(api, cast: Cast) -> dict[str, Any]:
    """What the owners and the operator see of the objects under test."""
    c, h = api.c, api.h
    reads = {
        "offer": c.get(f"/api/v1/offers/{cast.offer_a['id']}"),
        "shop": c.get(f"/api/v1/shops/{cast.shop_a['id']}"),
        "offers_a": c.get("/api/v1/offers", query_string={"shop_id": cast.shop_a["id"]}, headers=h(cast.merchant_a["api_key"])),
        "offers_b": c.get("/api/v1/offers", query_string={"shop_id": cast.shop_b["id"]}, headers=h(cast.merchant_b["api_key"])),
        "resident": c.get(f"/api/v1/subscribers/{cast.resident['id']}", headers=h(cast.resident["secret"])),
        "favorites": c.get(f"/api/v1/subscribers/{cast.resident['id']}/favorites", headers=h(cast.resident["secret"])),
        "merchants": c.get("/api/v1/admin/merchants", headers=h(ADMIN_TOKEN)),
    }
    return {name: (r.status_code, r.json) for name, r in reads.items()}


def _problem(r, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:500])
    assert r.mimetype == PROBLEM_JSON, r.content_type
    body = r.json
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == status
    return body


@pytest.mark.parametrize("route, caller, status", CASES)
def test_access(api, cast, route, caller, status):
    request = ROUTES[route]
    headers = _authorization(cast, api, caller)
    before = _observable(api, cast)
    r = request.send(api.c, cast.ids(missing=False), headers)
    text = r.get_data(as_text=True)

    if 200 <= status < 300:
        assert r.status_code == status, (r.status_code, text[:500])
        if route in ("get_shop", "patch_shop", "get_offer", "patch_offer", "cancel_offer", "get_subscriber", "patch_subscriber", "moderate_merchant"):
            target = {"get_shop": "shop_id", "patch_shop": "shop_id", "moderate_merchant": "merchant_id",
                      "get_subscriber": "subscriber_id", "patch_subscriber": "subscriber_id"}.get(route, "offer_id")
            assert r.json["id"] == cast.ids(missing=False)[target]
        if route == "list_offers":
            assert [o["id"] for o in r.json["items"]] == [cast.offer_a["id"]]
        if route == "post_offer":
            assert r.json["shop_id"] == cast.shop_a["id"] and r.json["price_cents"] == 150
        if route == "delete_subscriber":
            gone = api.c.get(f"/api/v1/subscribers/{cast.resident['id']}", headers=api.h(cast.resident["secret"]))
            assert gone.status_code == 401  # the secret died with the subscription
        if route == "export_subscriber":
            assert r.json["subscriber"]["id"] == cast.resident["id"]
            assert [f["shop_id"] for f in r.json["favorites"]] == [cast.shop_a["id"]]
        if route == "erase_merchant":
            assert r.json["id"] == cast.merchant_b["id"] and r.json["shops"] == 1
        if route in ("list_favorites", "follow_shop", "unfollow_shop", "unfollow_shop_by_body"):
            followed = api.c.get(f"/api/v1/subscribers/{cast.resident['id']}/favorites", headers=headers)
            expected = {"list_favorites": [cast.shop_a["id"]], "follow_shop": [cast.shop_b["id"], cast.shop_a["id"]]}
            assert [i["shop_id"] for i in followed.json["items"]] == expected.get(route, [])
        return

    body = _problem(r, status)
    # Nothing of the object in the answer, and nothing changed by the attempt.
    for secret_value in (cast.offer_a["id"], cast.shop_a["id"], cast.resident["id"], cast.merchant_b["id"],
                         cast.offer_a["title"], str(HOME_LAT), str(HOME_LON)):
        assert secret_value not in text, (secret_value, text)
    assert _observable(api, cast) == before

    if status == 401:
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), dict(r.headers)
    if status == 404:
        # "Not yours" reads exactly like "does not exist": same status, same body.
        absent = request.send(api.c, cast.ids(missing=True), headers)
        assert absent.status_code == 404
        assert absent.json == body
        if route == "post_offer":
            assert "shop_id" in body["errors"]


def test_another_merchants_shop_cannot_be_listed_or_posted_to(api, cast):
    """Merchant A, with A's own valid key, aims at B's shop: 404 both ways, and B's shop stays empty."""
    key_a = cast.merchant_a["api_key"]
    listed = api.c.get("/api/v1/offers", query_string={"shop_id": cast.shop_b["id"]}, headers=api.h(key_a))
    assert listed.status_code == 404
    posted = api.c.post("/api/v1/offers", json={**_offer_body(), "shop_id": cast.shop_b["id"]}, headers=api.h(key_a))
    assert posted.status_code == 404 and "shop_id" in posted.json["errors"]
    own = api.c.get("/api/v1/offers", query_string={"shop_id": cast.shop_b["id"]}, headers=api.h(cast.merchant_b["api_key"]))
    assert own.status_code == 200 and own.json["items"] == []


def test_a_suspended_merchant_keeps_reading_but_cannot_post(api, cast):
    r = api.c.patch(f"/api/v1/admin/merchants/{cast.merchant_a['id']}", json={"status": "suspended"}, headers=api.h(ADMIN_TOKEN))
    assert r.status_code == 200 and r.json["status"] == "suspended"
    posted = api.c.post("/api/v1/offers", json={**_offer_body(), "shop_id": cast.shop_a["id"]}, headers=api.h(cast.merchant_a["api_key"]))
    _problem(posted, 403)
    listed = api.c.get("/api/v1/offers", query_string={"shop_id": cast.shop_a["id"]}, headers=api.h(cast.merchant_a["api_key"]))
    assert [o["id"] for o in listed.json["items"]] == [cast.offer_a["id"]]


def test_moderating_an_unknown_merchant_is_a_404(api):
    r = api.c.patch(f"/api/v1/admin/merchants/{MISSING['merchant']}", json={"status": "active"}, headers=api.h(ADMIN_TOKEN))
    _problem(r, 404)


# --- a resident's place -------------------------------------------------------------------


def _numbers(value: Any):
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield float(value)


def _reveals_home(text: str) -> bool:
    if str(HOME_LAT) in text or str(HOME_LON) in text:
        return True
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return any(abs(n - HOME_LAT) < 1e-9 or abs(n - HOME_LON) < 1e-9 for n in _numbers(data))


def test_a_residents_place_is_shown_to_that_resident_only(api, cast):
    c, h = api.c, api.h
    own = c.get(f"/api/v1/subscribers/{cast.resident['id']}", headers=h(cast.resident["secret"]))
    assert own.status_code == 200
    assert (own.json["lat"], own.json["lon"]) == (HOME_LAT, HOME_LON)
    assert _reveals_home(own.get_data(as_text=True))  # the check below can see the place

    key_a, op = cast.merchant_a["api_key"], h(ADMIN_TOKEN)
    answers = {
        "deals": c.get("/api/v1/deals", query_string={"lat": 45.4642, "lon": 9.19, "radius_m": 5000}),
        "reach": c.get("/api/v1/admin/reach", query_string={"lat": 45.4642, "lon": 9.19}, headers=op),
        "merchants": c.get("/api/v1/admin/merchants", headers=op),
        "rules": c.get("/api/v1/admin/rules", headers=op),
        "rules_history": c.get("/api/v1/admin/rules/history", headers=op),
        "shop": c.get(f"/api/v1/shops/{cast.shop_a['id']}"),
        "shops": c.get("/api/v1/shops", headers=h(key_a)),
        "offer": c.get(f"/api/v1/offers/{cast.offer_a['id']}"),
        "offers": c.get("/api/v1/offers", query_string={"shop_id": cast.shop_a["id"]}, headers=h(key_a)),
        "new_offer": c.post("/api/v1/offers", json={**_offer_body(), "shop_id": cast.shop_a["id"]}, headers=h(key_a)),
        "patched_offer": c.patch(f"/api/v1/offers/{cast.offer_a['id']}", json={"quantity": 7}, headers=h(key_a)),
        "neighbour_self": c.get(f"/api/v1/subscribers/{cast.neighbour['id']}", headers=h(cast.neighbour["secret"])),
        "neighbour_reads": c.get(f"/api/v1/subscribers/{cast.resident['id']}", headers=h(cast.neighbour["secret"])),
        "neighbour_patches": c.patch(f"/api/v1/subscribers/{cast.resident['id']}", json={"radius_m": 900}, headers=h(cast.neighbour["secret"])),
        "merchant_reads": c.get(f"/api/v1/subscribers/{cast.resident['id']}", headers=h(key_a)),
        "operator_reads": c.get(f"/api/v1/subscribers/{cast.resident['id']}", headers=op),
        "operator_patches": c.patch(f"/api/v1/subscribers/{cast.resident['id']}", json={"radius_m": 900}, headers=op),
        "stranger_reads": c.get(f"/api/v1/subscribers/{cast.resident['id']}"),
        "metrics": c.get("/metrics"),
    }
    assert answers["deals"].status_code == 200 and len(answers["deals"].json["items"]) == 1
    assert answers["reach"].status_code == 200 and answers["reach"].json["subscribers"] == 2
    assert answers["new_offer"].status_code == 201 and answers["patched_offer"].status_code == 200
    for name, r in answers.items():
        assert r.status_code < 500, (name, r.status_code)
        assert not _reveals_home(r.get_data(as_text=True)), name
