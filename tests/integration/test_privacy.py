"""What merchants see of residents (domain/privacy.py): coarse figures, counted at cell centres,
only for active merchants' own shops, from a capped number of shops. The attack itself is
tests/integration/test_privacy_attack.py."""
from __future__ import annotations

import re

from geographiclib.geodesic import Geodesic

from dealsvc.domain import privacy
from dealsvc.domain.rules import Rules
from tests.support.api import ADMIN_TOKEN

G = Geodesic.WGS84
SECRET = b"k" * 32


def test_a_count_is_hidden_below_a_secret_floor_and_otherwise_coarse_and_stable():
    for key in ("cell:1:2", "shop:a", "shop:b"):
        assert all(privacy.coarse(n, SECRET, key) == 0 for n in range(privacy.FLOOR))
        for n in range(privacy.FEW - 1, 3000):
            shown = privacy.coarse(n, SECRET, key)
            assert shown == privacy.coarse(n, SECRET, key)  # asked again, the same answer
            assert 0 < shown <= n + privacy.NOISE and n - shown < (10 if n < 100 else 50 if n < 1000 else 500)
    # The offsets are the secret's: another secret, other figures.
    assert [privacy.coarse(n, SECRET, "k") for n in range(20, 200)] != [privacy.coarse(n, b"x" * 32, "k") for n in range(20, 200)]


def test_points_of_one_cell_snap_to_its_centre():
    cell, lat, lon = privacy.snap(45.4642, 9.1900)
    assert G.Inverse(45.4642, 9.1900, lat, lon)["s12"] < 0.75 * privacy.CELL_M
    assert privacy.snap(lat + 0.001, lon + 0.001)[0] == cell
    assert privacy.snap(lat + 0.01, lon)[0] != cell
    assert privacy.snap(-89.999, 179.999)[0] and privacy.snap(89.999, -180.0)[0]


def test_the_shop_cap_is_an_operator_rule():
    Rules().check_shop_count(19)
    try:
        Rules().check_shop_count(20)
    except Exception as error:
        assert error.status == 422 and "max_shops_per_merchant" in str(error.errors)
    else:
        raise AssertionError("a 21st shop was allowed")


def test_one_shop_more_than_max_shops_per_merchant_is_a_422(client, api):
    api.rules(max_shops_per_merchant=2)
    key = api.merchant()["api_key"]
    api.shop(key)
    api.shop(key, lat=45.47)
    r = client.post("/api/v1/shops", json={"name": "Third", "category": "bakery", "lat": 45.48, "lon": 9.19},
                    headers=api.h(key))
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert "max_shops_per_merchant" in str(r.json["errors"])
    # Another merchant is not held by the first one's shops.
    api.shop(api.merchant()["api_key"])
    # The form says so too.
    page = client.application.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get("/shop/").text).group(1)
    assert page.post("/shop/signin", data={"secret": key, "csrf_token": token}).status_code == 303
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get("/shop/").text).group(1)
    r = page.post("/shop/shops", data={"name": "Third", "category": "bakery", "lat": "45.48", "lon": "9.19", "csrf_token": token})
    assert r.status_code == 422 and "at most 2 shops a merchant" in r.text


def signed_in(client, key: str):
    page = client.application.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get("/shop/").text).group(1)
    assert page.post("/shop/signin", data={"secret": key, "csrf_token": token}).status_code == 303
    return page


def test_moving_a_shop_within_its_cell_changes_no_figure(client, api, container):
    """Two shops of one cell, a resident's edge between them: the exact reach differs by one, the
    merchant's figure does not."""
    cell, lat, lon = privacy.snap(45.4642, 9.1900)
    inside = G.Direct(lat, lon, 90.0, 200.0)
    outside = G.Direct(lat, lon, 90.0, 400.0)
    edge = G.Direct(lat, lon, 270.0, 700.0)  # 900 m from `inside`, 1100 m from `outside`
    api.subscriber(lat=edge["lat2"], lon=edge["lon2"], radius_m=1000)
    for k in range(40):  # a crowd whose radius covers the whole cell
        spot = G.Direct(lat, lon, 10.0 * k, 3000.0)
        api.subscriber(lat=spot["lat2"], lon=spot["lon2"], radius_m=5000)
    key = api.merchant()["api_key"]
    a = api.shop(key, lat=inside["lat2"], lon=inside["lon2"])
    b = api.shop(key, lat=outside["lat2"], lon=outside["lon2"])
    assert privacy.snap(a["lat"], a["lon"])[0] == privacy.snap(b["lat"], b["lon"])[0] == cell
    assert container.figures.reach(a["lat"], a["lon"]) == 41 and container.figures.reach(b["lat"], b["lon"]) == 40
    page = signed_in(client, key)
    shown = [page.get(f"/shop/reach?shop_id={s['id']}&quantity=5").json["residents"] for s in (a, b)]
    assert shown[0] == shown[1] > 0
    # The operator's reach stays exact.
    r = client.get(f"/api/v1/admin/reach?lat={a['lat']}&lon={a['lon']}", headers=api.h(ADMIN_TOKEN))
    assert r.json["subscribers"] == 41


def test_a_pending_merchant_sees_no_figures_of_residents(client, api):
    api.rules(merchant_approval_required=True)
    m = api.merchant()
    assert m["status"] == "pending"
    for _ in range(30):
        api.subscriber(radius_m=3000)
    shop = api.shop(m["api_key"])
    page = signed_in(client, m["api_key"])
    r = page.get(f"/shop/reach?shop_id={shop['id']}&quantity=5")
    assert r.status_code == 403 and "residents" not in r.json
    html = page.get("/shop/").text
    assert "How many residents an offer reaches shows once your account is active." in html
    assert 'id="reach-out"' not in html and 'id="waves-out"' not in html


def test_every_host_with_the_same_secret_key_reads_the_same_figures(tmp_path):
    from config import Settings
    from dealsvc.bootstrap import figures_key

    shared = "s" * 40
    one = figures_key(Settings(var_dir=tmp_path / "a", secret_key=shared))
    assert one == figures_key(Settings(var_dir=tmp_path / "b", secret_key=shared)) != shared.encode()
    (tmp_path / "c").mkdir()
    kept = figures_key(Settings(var_dir=tmp_path / "c"))
    assert kept == figures_key(Settings(var_dir=tmp_path / "c")) != one  # kept across restarts
