"""The operator's map on /admin/: residents as counts per grid cell (never a cell of fewer than 10,
never a resident's coordinates), live offers, the reach of a clicked point; for the signed-in
console only."""
from __future__ import annotations

import json

import pytest

from dealsvc.domain import privacy
from tests.support.api import ADMIN_TOKEN
from tests.support.pages import csrf

# Two cells of Milan's grid, well apart; residents are put around each one's centre.
A = privacy.cell(45.4642, 9.1900)
B = privacy.cell(45.4900, 9.2300)
VIEW = {"south": 45.40, "west": 9.10, "north": 45.55, "east": 9.30}


def around(c: privacy.Cell, i: int) -> tuple[float, float]:
    """The i-th spot near a cell's centre (inside it: a cell is about 1 km wide)."""
    return c.lat + 0.0002 * (i % 5 - 2), c.lon + 0.0003 * (i // 5 - 1)


@pytest.fixture
def operator(app):
    client = app.test_client()
    r = client.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": csrf(client.get("/admin/").text)})
    assert r.status_code == 303
    return client


def residents(client, **view):
    r = client.get("/admin/map/residents", query_string={**VIEW, **view})
    assert r.status_code == 200, r.text
    return r


def test_a_cell_of_9_residents_is_not_shown_and_one_of_10_is(operator, api):
    places = [around(A, i) for i in range(9)] + [around(B, i) for i in range(10)]
    for lat, lon in places:
        api.subscriber(lat=lat, lon=lon)

    r = residents(operator)

    body = r.json
    assert body["min_residents"] == privacy.FLOOR == 10
    assert [(c["cell"], c["residents"]) for c in body["cells"]] == [(B.name, 10)]
    [shown] = body["cells"]
    assert (shown["south"], shown["west"], shown["north"], shown["east"]) == (B.south, B.west, B.north, B.east)
    assert shown["text"] == "10 residents"
    # Never a resident's own coordinates, in any form: only the cells' edges.
    text = r.get_data(as_text=True)
    for lat, lon in places:
        assert json.dumps(lat) not in text and json.dumps(lon) not in text
    assert set(shown) == {"cell", "south", "west", "north", "east", "residents", "text"}

    # The tenth resident of A makes it show.
    api.subscriber(lat=around(A, 9)[0], lon=around(A, 9)[1])
    assert sorted((c["cell"], c["residents"]) for c in residents(operator).json["cells"]) == sorted([(A.name, 10), (B.name, 10)])


def test_residents_who_left_or_were_pruned_are_not_counted(operator, api):
    made = [api.subscriber(lat=around(B, i)[0], lon=around(B, i)[1]) for i in range(10)]
    assert [c["residents"] for c in residents(operator).json["cells"]] == [10]
    gone = made[0]
    assert api.c.delete(f"/api/v1/subscribers/{gone['id']}", headers=api.h(gone["secret"])).status_code == 204
    assert residents(operator).json["cells"] == []


def test_a_resident_with_two_places_in_one_cell_counts_once(operator, api):
    for i in range(9):
        lat, lon = around(B, i)
        sub = api.subscriber(lat=lat, lon=lon)
    lat, lon = around(B, 9)
    r = api.c.patch(f"/api/v1/subscribers/{sub['id']}", headers=api.h(sub["secret"]),
                    json={"places": [{"label": "work", "lat": lat, "lon": lon}]})
    assert r.status_code == 200, r.json
    assert residents(operator).json["cells"] == []  # 9 residents, 10 places


def test_a_view_too_wide_counts_nothing_and_says_so(operator, api):
    for i in range(10):
        api.subscriber(lat=around(B, i)[0], lon=around(B, i)[1])
    body = residents(operator, south=44.0, north=46.0).json
    assert body == {**body, "too_wide": True, "cells": []}


@pytest.mark.parametrize("view", [
    {"south": "x"}, {"south": "46", "north": "45"}, {"west": "9.3", "east": "9.1"}, {"north": "91"}, {"east": "nan"},
])
def test_a_bad_view_is_a_400_naming_the_field(operator, view):
    r = operator.get("/admin/map/residents", query_string={**VIEW, **view})
    assert r.status_code == 400
    assert set(r.json["errors"]) <= set(VIEW) and r.json["errors"]


@pytest.mark.parametrize("path", ["/admin/map/residents", "/admin/map/offers", "/admin/map/reach?lat=45.46&lon=9.19"])
def test_the_maps_figures_are_for_the_signed_in_console_only(client, api, path):
    query = "" if "?" in path else "?" + "&".join(f"{k}={v}" for k, v in VIEW.items())
    assert client.get(path + query).status_code == 401
    # Not the API's bearer token either: this is the page's JSON, behind the page's session.
    assert client.get(path + query, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 401
    # Nor a merchant's session.
    key = api.merchant()["api_key"]
    client.post("/shop/signin", data={"secret": key, "csrf_token": csrf(client.get("/shop/").text)})
    assert client.get(path + query).status_code == 401


def test_a_click_gives_the_reach_services_figure(operator, api):
    api.subscriber(lat=45.4650, lon=9.1900, radius_m=1000)
    api.subscriber(lat=45.4660, lon=9.1900, radius_m=1000)
    api.subscriber(lat=45.5200, lon=9.1900, radius_m=1000)  # 6 km away
    r = operator.get("/admin/map/reach", query_string={"lat": "45.4642", "lon": "9.19"})
    assert r.status_code == 200
    by_api = api.c.get("/api/v1/admin/reach?lat=45.4642&lon=9.19", headers=api.h(ADMIN_TOKEN)).json["subscribers"]
    assert r.json["residents"] == by_api == 2
    assert r.json["text"] == "An offer here would reach 2 residents now."
    assert r.json["max_radius_m"] == 5000
    fr = operator.get("/admin/map/reach", query_string={"lat": "45.4642", "lon": "9.19"}, headers={"Accept-Language": "fr"})
    assert fr.json["text"] == "Une offre ici toucherait 2 habitants maintenant."
    assert operator.get("/admin/map/reach", query_string={"lat": "91", "lon": "9.19"}).status_code == 400


def test_live_offers_in_view_are_listed_and_ended_ones_are_not(operator, api):
    key = api.merchant()["api_key"]
    shop = api.shop(key, lat=45.4642, lon=9.19)
    far = api.shop(key, lat=48.8556, lon=2.3582)
    live = api.offer(key, shop["id"], title="Pane di ieri")
    withdrawn = api.offer(key, shop["id"], title="Focaccia")
    api.offer(key, far["id"], title="Baguette")
    assert api.c.patch(f"/api/v1/offers/{withdrawn['id']}", json={"status": "cancelled"}, headers=api.h(key)).status_code == 200

    r = operator.get("/admin/map/offers", query_string=VIEW)

    assert r.status_code == 200
    assert [(o["id"], o["title"], o["shop"], o["lat"], o["lon"]) for o in r.json["items"]] == [
        (live["id"], "Pane di ieri", "Forno Rossi", 45.4642, 9.19)]


def test_the_console_draws_the_map(operator):
    page = operator.get("/admin/")
    assert 'id="admin-map"' in page.text and "vendor/leaflet/leaflet.js" in page.text and "web/maps.js" in page.text
    assert "only where a square holds at least 10 of them" in page.text
