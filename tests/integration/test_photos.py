"""Offers' photos: a phone's picture made upright and stripped of its metadata (GPS included), a
large version of at most 1 MB and a thumbnail named by their content, served for a year; hostile
uploads refused with clear problems, never a 500; and the push that shows the picture."""
from __future__ import annotations

import functools
import hashlib
import io
import os
import re
from dataclasses import dataclass

import pytest
from PIL import Image

from dealsvc.adapters.images import PillowPhotos
from dealsvc.adapters.media_store import LocalMediaStore
from dealsvc.app import create_app
from dealsvc.domain import delivery, photos
from tests.support.api import Api
from tests.support.push import SHOP
from tests.support.webpush import NEAR, PUBLIC, pipeline
from tests.support.photos import BLUE, ORIENTATION, RED, assert_clean, assert_upright, phone_jpeg

# Where the phone was (Milan, Duomo): in the EXIF of the uploads, never in what is kept.


def noise(size: tuple[int, int], fmt: str = "PNG") -> bytes:
    """Random pixels: no encoder can make them small."""
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 98} if fmt == "JPEG" else {"compress_level": 1}))
    return out.getvalue()


@functools.lru_cache(maxsize=None)
def bomb(size: tuple[int, int]) -> bytes:
    """A PNG of a few kilobytes that decodes to `size` pixels (seconds of CPU to draw: once a
    process, when a test needs it, never while the tests are collected)."""
    out = io.BytesIO()
    Image.new("1", size).save(out, "PNG")
    return out.getvalue()


# --- the picture itself (no database) -------------------------------------------------------------


def test_a_phone_photo_is_made_upright_and_loses_its_exif_and_gps():
    photo = PillowPhotos().prepare(phone_jpeg())
    for data in (photo.large, photo.thumbnail):
        assert_upright(assert_clean(data))
    assert photo.large_name == hashlib.sha256(photo.large).hexdigest() + ".jpg"
    assert photo.thumbnail_name == hashlib.sha256(photo.thumbnail).hexdigest() + ".jpg"
    assert (photo.width, photo.height) == (200, 300)


def test_the_large_version_fits_in_1_mb_and_the_thumbnail_is_small():
    upload = noise((3000, 2000), "JPEG")
    assert len(upload) > 3 * photos.LARGE_MAX_BYTES
    photo = PillowPhotos().prepare(upload)
    assert len(photo.large) <= photos.LARGE_MAX_BYTES == 1_000_000
    large, thumbnail = Image.open(io.BytesIO(photo.large)), Image.open(io.BytesIO(photo.thumbnail))
    assert max(large.size) <= photos.LARGE_MAX_SIDE and large.size[0] > large.size[1]
    assert max(thumbnail.size) == photos.THUMBNAIL_MAX_SIDE and len(photo.thumbnail) < len(photo.large)


def test_transparency_is_laid_on_white_and_the_same_picture_gets_the_same_names():
    image = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    first, again = PillowPhotos().prepare(out.getvalue()), PillowPhotos().prepare(out.getvalue())
    assert Image.open(io.BytesIO(first.large)).getpixel((60, 40))[0] > 240
    assert (first.large_name, first.thumbnail_name) == (again.large_name, again.thumbnail_name)


def test_a_large_png_is_shrunk_before_it_is_worked_and_still_made_upright_on_white():
    # 4000 × 3400: shrunk by 2 band by band before its conversions; the sensor's halves, red and
    # blue, each with a transparent stripe, and the phone's orientation tag.
    size = (4000, 3400)
    image = Image.new("RGBA", size, RED + (255,))
    image.paste(BLUE + (255,), (size[0] // 2, 0, size[0], size[1]))
    image.paste((0, 0, 0, 0), (0, size[1] * 3 // 4 - 40, size[0], size[1] * 3 // 4 + 40))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    out = io.BytesIO()
    image.save(out, "PNG", exif=exif.tobytes())
    photo = PillowPhotos().prepare(out.getvalue())
    large = assert_clean(photo.large)
    assert_upright(large)
    assert large.height == photos.LARGE_MAX_SIDE and (photo.width, photo.height) == large.size
    # The transparent stripe, upright now a quarter of the way across, lies on white.
    assert min(large.convert("RGB").getpixel((large.width // 4, large.height // 4))) > 240


def test_the_local_store_keeps_only_names_it_gives(tmp_path):
    store = LocalMediaStore(tmp_path / "media")
    name = photos.media_name(b"x")
    store.put(name, b"x")
    assert store.get(name) == b"x" and store.get(photos.media_name(b"y")) is None
    for bad in ("../secret", "x.jpg", name.upper(), name + "/..", "/etc/passwd"):
        assert store.get(bad) is None
        with pytest.raises(ValueError):
            store.put(bad, b"x")
    assert sorted(p.name for p in (tmp_path / "media").iterdir()) == [name]


# --- the API ---------------------------------------------------------------------------------------


def _offer(api: Api):
    key = api.merchant()["api_key"]
    shop = api.shop(key)
    return key, api.offer(key, shop["id"])


def _put(api: Api, key: str, offer_id: str, data: bytes, content_type: str = "image/jpeg", **headers):
    return api.c.put(f"/api/v1/offers/{offer_id}/photo", data=data,
                     headers={**api.h(key), "Content-Type": content_type, **headers})


def _name(url: str) -> str:
    match = re.fullmatch(r"http://localhost/media/([0-9a-f]{64}\.jpg)", url)
    assert match, url
    return match.group(1)


def test_an_uploaded_photo_is_kept_clean_and_shown_by_the_offer_and_the_deals(api, settings):
    key, offer = _offer(api)
    assert offer["image_url"] is None and offer["thumbnail_url"] is None
    upload = phone_jpeg((1200, 800))
    r = _put(api, key, offer["id"], upload)
    assert r.status_code == 200, r.json
    large, thumbnail = _name(r.json["image_url"]), _name(r.json["thumbnail_url"])
    assert r.json["id"] == offer["id"] and large != thumbnail

    kept = sorted(p.name for p in settings.media_root.iterdir())
    assert kept == sorted([large, thumbnail])
    for name in kept:
        data = (settings.media_root / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() + ".jpg" == name
        assert_upright(assert_clean(data))

    assert api.c.get(f"/api/v1/offers/{offer['id']}").json["thumbnail_url"] == r.json["thumbnail_url"]
    [deal] = api.c.get("/api/v1/deals", query_string={"lat": 45.4642, "lon": 9.19}).json["items"]
    assert (deal["image_url"], deal["thumbnail_url"]) == (r.json["image_url"], r.json["thumbnail_url"])
    [listed] = api.c.get("/api/v1/offers", query_string={"shop_id": offer["shop_id"]}, headers=api.h(key)).json["items"]
    assert listed["thumbnail_url"] == r.json["thumbnail_url"]


def test_photos_are_served_for_a_year_by_their_content_and_nothing_else_is(api):
    key, offer = _offer(api)
    name = _name(_put(api, key, offer["id"], phone_jpeg()).json["thumbnail_url"])
    r = api.c.get(f"/media/{name}")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert r.headers["ETag"] == f'"{name[:-4]}"'
    assert_clean(r.data)
    again = api.c.get(f"/media/{name}", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    for path in (f"/media/{'0' * 64}.jpg", "/media/..%2F..%2Fetc%2Fpasswd", "/media/../dealsvc.db",
                 "/media/%2e%2e/dealsvc.db", f"/media/{name[:-4]}.png", "/media/admin-token"):
        assert api.c.get(path).status_code == 404, path


def test_a_photo_replaces_the_last_one_on_an_offer_and_the_link_given_when_posting(api):
    key = api.merchant()["api_key"]
    shop = api.shop(key)
    offer = api.offer(key, shop["id"], image_url="https://cdn.example.org/bread.jpg")
    assert offer["image_url"] == "https://cdn.example.org/bread.jpg" and offer["thumbnail_url"] is None
    first = _put(api, key, offer["id"], phone_jpeg()).json
    second = _put(api, key, offer["id"], phone_jpeg(orientation=1), "image/jpeg; charset=binary").json
    assert first["image_url"] != second["image_url"] and second["image_url"].startswith("http://localhost/media/")


def test_a_replaced_photo_is_no_longer_served_unless_another_offer_shows_it(api):
    key = api.merchant()["api_key"]
    shop = api.shop(key)
    offer, other = api.offer(key, shop["id"]), api.offer(key, shop["id"])
    regretted = _put(api, key, offer["id"], phone_jpeg()).json  # say, a face in the window
    shared = _put(api, key, offer["id"], phone_jpeg(orientation=1)).json
    _put(api, key, other["id"], phone_jpeg(orientation=1))
    urls = lambda o: [o["image_url"].removeprefix("http://localhost"), o["thumbnail_url"].removeprefix("http://localhost")]  # noqa: E731
    assert [api.c.get(u).status_code for u in urls(regretted)] == [404, 404]  # whoever kept the address gets nothing
    _put(api, key, offer["id"], phone_jpeg((320, 240)))
    assert [api.c.get(u).status_code for u in urls(shared)] == [200, 200]  # the other offer still shows it


@dataclass(frozen=True)
class Bomb:
    size: tuple[int, int]


HOSTILE = [
    pytest.param(b"", "The photo is empty.", id="empty"),
    pytest.param(b"%PDF-1.7\n" + b"x" * 5000, "not a JPEG, PNG or WebP", id="not-an-image"),
    pytest.param(b"\xff\xd8\xff\xe0" + os.urandom(4000), "not a JPEG, PNG or WebP", id="garbage-after-a-jpeg-header"),
    pytest.param(phone_jpeg()[:1200], "not a JPEG, PNG or WebP", id="truncated-jpeg"),
    pytest.param(Bomb((7_000, 7_000)), "more than 40 million pixels", id="bomb-49-megapixels"),
    pytest.param(Bomb((20_000, 20_000)), "more than 40 million pixels", id="bomb-400-megapixels"),
    pytest.param(Bomb((1, 60_000_000)), "more than 40 million pixels", id="bomb-one-row"),
]


def test_a_webp_over_16_megapixels_is_refused_where_a_png_of_its_size_is_taken(api):
    key, offer = _offer(api)
    size = (4_800, 3_500)  # 16.8 MP: the WebP decoder would take about 330 MB for it
    webp, png = io.BytesIO(), io.BytesIO()
    Image.new("RGB", size, RED).save(webp, "WEBP", lossless=True, method=0)
    Image.new("RGB", size, RED).save(png, "PNG")
    r = _put(api, key, offer["id"], webp.getvalue(), "image/webp")
    assert r.status_code == 400 and "more than 16 million pixels" in r.json["errors"]["photo"][0], r.json
    assert _put(api, key, offer["id"], png.getvalue(), "image/png").status_code == 200


@pytest.fixture
def body(request) -> bytes:
    """The upload of a HOSTILE case; a bomb drawn only now."""
    return bomb(request.param.size) if isinstance(request.param, Bomb) else request.param


@pytest.mark.parametrize(("body", "said"), HOSTILE, indirect=["body"])
def test_what_is_not_a_usable_photo_is_a_clear_400(api, settings, body, said):
    key, offer = _offer(api)
    r = _put(api, key, offer["id"], body, "image/png")
    assert r.status_code == 400, r.data
    assert r.mimetype == "application/problem+json"
    assert said in r.json["detail"] and said in r.json["errors"]["photo"][0], r.json
    assert api.c.get(f"/api/v1/offers/{offer['id']}").json["thumbnail_url"] is None
    assert not settings.media_root.exists() or not any(settings.media_root.iterdir())


def test_the_refusals_are_said_in_the_readers_language(api):
    key, offer = _offer(api)
    r = _put(api, key, offer["id"], b"nope", "image/jpeg", **{"Accept-Language": "it"})
    assert r.status_code == 400 and r.headers["Content-Language"] == "it"
    assert "JPEG" in r.json["detail"] and "not a JPEG" not in r.json["detail"]


def test_another_type_is_a_415_and_only_the_owner_of_a_live_offer_may_upload(api):
    key, offer = _offer(api)
    r = _put(api, key, offer["id"], phone_jpeg(), "image/gif")
    assert r.status_code == 415 and "image/jpeg" in r.json["detail"], r.json
    assert _put(api, key, offer["id"], phone_jpeg(), "application/json").status_code == 415
    assert api.c.put(f"/api/v1/offers/{offer['id']}/photo", data=phone_jpeg(),
                     headers={"Content-Type": "image/jpeg"}).status_code == 401
    stranger = api.merchant()["api_key"]
    assert _put(api, stranger, offer["id"], phone_jpeg()).status_code == 404
    assert _put(api, key, "off_nothing", phone_jpeg()).status_code == 404
    withdrawn = api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": "cancelled"}, headers=api.h(key))
    assert withdrawn.status_code == 200
    r = _put(api, key, offer["id"], phone_jpeg())
    assert r.status_code == 409, r.json


def test_uploads_have_their_own_size_limit_apart_from_json_bodies(settings):
    limited = settings.with_(max_upload_bytes=300_000)
    client = create_app(limited, start_workers=False).test_client()
    api = Api(client)
    key, offer = _offer(api)
    # Above the JSON limit (64 KiB) but within the upload limit: taken.
    middling = noise((240, 240), "JPEG")
    assert settings.max_request_bytes < len(middling) < 300_000
    assert _put(api, key, offer["id"], middling).status_code == 200
    # Above the upload limit: a 413 problem that names it, before the picture is read.
    r = _put(api, key, offer["id"], noise((400, 400)))
    assert r.status_code == 413 and r.mimetype == "application/problem+json"
    assert "300000" in r.json["detail"].replace(",", "").replace(" ", "").replace("\u202f", "").replace(".", ""), r.json
    # The JSON routes keep theirs.
    r = client.post("/api/v1/offers", data=b" " * (settings.max_request_bytes + 1),
                    headers={**api.h(key), "Content-Type": "application/json"})
    assert r.status_code == 413


def test_the_upload_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").json
    put = spec["paths"]["/api/v1/offers/{offer_id}/photo"]["put"]
    assert set(put["requestBody"]["content"]) == {"image/jpeg", "image/png", "image/webp"}
    assert {"200", "400", "401", "404", "409", "413", "415"} <= set(put["responses"])
    offer = spec["components"]["schemas"]["Offer"]["properties"]
    assert "thumbnail_url" in offer and "image_url" in offer


def test_the_setting_is_read_from_the_environment():
    from config import Settings, SettingsError

    assert Settings.from_env({"DEALSVC_MAX_UPLOAD_BYTES": "5000000"}).max_upload_bytes == 5_000_000
    assert Settings.from_env({}).max_upload_bytes == 12 * 1024 * 1024
    assert str(Settings.from_env({"DEALSVC_MEDIA_DIR": "/srv/media"}).media_root) == "/srv/media"
    with pytest.raises(SettingsError):
        Settings.from_env({"DEALSVC_MAX_UPLOAD_BYTES": "0"})


# --- the push -----------------------------------------------------------------------------------------


def test_the_push_shows_the_photo_on_android_ios_and_the_web(settings):
    with pipeline(settings, PUBLIC) as env:
        key = env.api.merchant()["api_key"]
        shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1], name="Forno Rossi")
        offer = env.api.offer(key, shop["id"])
        r = _put(env.api, key, offer["id"], phone_jpeg())
        assert r.status_code == 200, r.json
        env.api.subscriber(lat=NEAR[0], lon=NEAR[1], fcm_token="tok-photo")
        env.drain()
        [alert] = [m.message for m in env.emulator.store.messages("tok-photo")]
        [notification] = env.notifications(offer["id"])
    image = r.json["image_url"]
    assert image.startswith(f"{PUBLIC}/media/") and image.endswith(".jpg")
    assert notification.status == "sent"
    assert alert["notification"]["image"] == image
    assert alert["apns"]["fcm_options"] == {"image": image}
    assert alert["apns"]["payload"]["aps"]["mutable-content"] == 1
    assert alert["webpush"]["notification"]["image"] == image


def test_no_image_in_the_push_without_a_public_address(settings):
    with pipeline(settings, None) as env:
        key = env.api.merchant()["api_key"]
        shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1])
        offer = env.api.offer(key, shop["id"])
        assert _put(env.api, key, offer["id"], phone_jpeg()).status_code == 200
        env.api.subscriber(lat=NEAR[0], lon=NEAR[1], fcm_token="tok-nophoto")
        env.drain()
        [alert] = [m.message for m in env.emulator.store.messages("tok-nophoto")]
    assert "image" not in alert["notification"] and "image" not in alert["webpush"]["notification"]
    assert "fcm_options" not in alert["apns"] and "mutable-content" not in alert["apns"].get("payload", {}).get("aps", {})
    assert delivery.offer_image(None, "a.jpg") is None
    assert delivery.offer_image("https://x.example/", "a.jpg") == "https://x.example/media/a.jpg"


# --- the shop page's form (without a browser: tests/e2e/test_photos_browser.py drives Chromium) -----------


def test_the_shop_form_takes_a_photo_within_the_upload_limit_and_refuses_more_with_a_413_page(settings):
    from tests.support.pages import csrf, offer_form, sign_in_shop

    client = create_app(settings.with_(max_upload_bytes=300_000), start_workers=False).test_client()
    api = Api(client)
    m = api.merchant()
    shop = api.shop(m["api_key"])
    assert sign_in_shop(client, m["api_key"]).status_code == 303
    keeper = {"key": m["api_key"], "shop": shop, "csrf": csrf(client.get("/shop/").text)}

    photo = noise((240, 240), "JPEG")  # above the JSON limit, within the upload limit
    assert settings.max_request_bytes < len(photo) < 300_000
    r = client.post("/shop/offers", data={**offer_form(keeper), "photo": (io.BytesIO(photo), "p.jpg", "image/jpeg")},
                    content_type="multipart/form-data")
    assert r.status_code == 303, r.text
    [offer] = api.c.get("/api/v1/offers", query_string={"shop_id": shop["id"]}, headers=api.h(m["api_key"])).json["items"]
    assert offer["thumbnail_url"] and f'src="{offer["thumbnail_url"].removeprefix("http://localhost")}"' in client.get("/shop/").text

    r = client.post("/shop/offers", data={**offer_form(keeper, title="Troppo"), "photo": (io.BytesIO(noise((400, 400))), "big.png", "image/png")},
                    content_type="multipart/form-data")
    assert r.status_code == 413 and r.mimetype == "text/html", r.status_code
    assert len(api.c.get("/api/v1/offers", query_string={"shop_id": shop["id"]}, headers=api.h(m["api_key"])).json["items"]) == 1
    # Other pages keep the JSON limit.
    r = client.post("/shop/shops", data={"csrf_token": keeper["csrf"], "name": "x" * 70_000})
    assert r.status_code == 413


def test_a_refused_shop_form_keeps_no_file_of_its_photo_but_one_another_offer_shows(settings):
    from tests.support.pages import csrf, offer_form, sign_in_shop

    client = create_app(settings, start_workers=False).test_client()
    api = Api(client)
    m = api.merchant()
    shop = api.shop(m["api_key"])
    theirs = api.shop(api.merchant()["api_key"])  # another merchant's
    assert sign_in_shop(client, m["api_key"]).status_code == 303
    keeper = {"key": m["api_key"], "shop": shop, "csrf": csrf(client.get("/shop/").text)}

    def post(picture: bytes, **changes):
        return client.post("/shop/offers", data={**offer_form(keeper, **changes), "photo": (io.BytesIO(picture), "p.jpg", "image/jpeg")},
                           content_type="multipart/form-data")

    def files() -> list[str]:
        return sorted(p.name for p in settings.media_root.iterdir()) if settings.media_root.exists() else []

    before = files()
    refused = [post(phone_jpeg((320, 240)), shop_id=theirs["id"]),  # not this merchant's shop
               post(phone_jpeg((330, 240)), discount_pct="99")]  # outside the operator's band
    assert [r.status_code for r in refused] == [422, 422], [r.status_code for r in refused]
    assert files() == before
    assert api.c.get("/api/v1/offers", query_string={"shop_id": shop["id"]}, headers=api.h(m["api_key"])).json["items"] == []

    # The same picture another offer shows stays served when a second form with it is refused.
    assert post(phone_jpeg((340, 240))).status_code == 303
    [offer] = api.c.get("/api/v1/offers", query_string={"shop_id": shop["id"]}, headers=api.h(m["api_key"])).json["items"]
    shown = files()
    assert sorted([_name(offer["image_url"]), _name(offer["thumbnail_url"])]) == [n for n in shown if n not in before]
    assert post(phone_jpeg((340, 240)), discount_pct="99").status_code == 422
    assert files() == shown
    for url in (offer["image_url"], offer["thumbnail_url"]):
        assert client.get(url.removeprefix("http://localhost")).status_code == 200

