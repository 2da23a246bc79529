"""A shopkeeper posts an offer with a photo from the phone on /shop/ (Chromium): the kept files
carry no EXIF and no GPS, the shop's list and the residents' app show the thumbnail, and the
push carries the picture."""
from __future__ import annotations

import io
import re
import time
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.sync_api import expect

from config import Settings
from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS
from tests.support.browser import (  # noqa: F401 (fixtures)
    WAIT_MS, browser, context, fill_offer, live, merchant_with_shop, phones, screenshot, sign_in,
)
from tests.support.processes import free_port
from tests.support.photos import assert_clean, assert_upright, phone_jpeg
from tests.support.resident_app import joined_phone, post_offer


def wait_for(probe, timeout_s: float = WAIT_MS / 1000):
    """probe()'s first truthy answer, asked every 50 ms until the timeout."""
    deadline = time.monotonic() + timeout_s
    while not (found := probe()):
        assert time.monotonic() < deadline, "nothing came"
        time.sleep(0.05)
    return found


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    """test_browser's, with a public address (this server's own), so that pushes carry the photo."""
    port = free_port()
    return Settings(
        database_url=database_url, admin_token=ADMIN_TOKEN, var_dir=tmp_path, geocoder="none",
        host="127.0.0.1", port=port, public_url=f"http://127.0.0.1:{port}", **GENEROUS_RATE_LIMITS,
    )


def test_an_offer_posted_with_a_phone_photo_keeps_no_exif_and_shows_its_thumbnail(context, live, settings):
    key, shop = merchant_with_shop(live)
    phones(live)
    page = context.new_page()
    sign_in(page, live, "/shop/", key)

    field = page.get_by_label("Photo")
    expect(field).to_have_attribute("type", "file")
    expect(field).to_have_attribute("accept", "image/*")
    expect(field).to_have_attribute("capture", "environment")
    fill_offer(page, title="Focaccia")
    field.set_input_files(files=[{"name": "IMG_0042.jpg", "mimeType": "image/jpeg", "buffer": phone_jpeg((1200, 800))}])
    page.get_by_role("button", name="Post offer").click()
    expect(page.locator(".flash")).to_contain_text("Posted “Focaccia”")

    thumb = page.locator(".offer .offer-thumb")
    expect(thumb).to_have_count(1)
    expect(thumb).to_have_attribute("src", re.compile(r"^/media/[0-9a-f]{64}\.jpg$"))
    page.wait_for_function("() => { const i = document.querySelector('.offer-thumb'); return i && i.complete && i.naturalWidth > 0; }")
    width, height = page.evaluate("() => [document.querySelector('.offer-thumb').naturalWidth, document.querySelector('.offer-thumb').naturalHeight]")
    assert height > width  # upright: the phone was held in portrait
    screenshot(page, "shop-photo")

    # What the service kept: two JPEGs, named by their content, without the phone's EXIF and GPS.
    kept = sorted(settings.media_root.iterdir())
    assert len(kept) == 2
    for path in kept:
        assert_upright(assert_clean(path.read_bytes()))
    served = live.http.get(live.url + thumb.get_attribute("src"), timeout=10)
    assert served.status_code == 200 and served.headers["Cache-Control"] == "public, max-age=31536000, immutable"

    # The push shows the large version, by its absolute address.
    [received] = wait_for(lambda: live.received("phone-near"))
    image = received["message"]["notification"]["image"]
    assert re.fullmatch(rf"{re.escape(settings.public_url)}/media/[0-9a-f]{{64}}\.jpg", image), image
    assert received["message"]["webpush"]["notification"]["image"] == image
    large = live.http.get(image, timeout=10)
    assert large.status_code == 200 and len(large.content) <= 1_000_000
    assert_upright(assert_clean(large.content))
    assert Image.open(io.BytesIO(large.content)).size == (800, 1200)


def test_a_file_that_is_not_a_photo_is_refused_beside_the_field_and_nothing_is_posted(context, live, settings):
    key, _ = merchant_with_shop(live)
    page = context.new_page()
    sign_in(page, live, "/shop/", key)
    fill_offer(page)
    page.get_by_label("Photo").set_input_files(files=[{"name": "menu.jpg", "mimeType": "image/jpeg", "buffer": b"%PDF-1.7 not a photo"}])
    page.get_by_role("button", name="Post offer").click()
    expect(page.locator("#photo-error")).to_have_text("This is not a JPEG, PNG or WebP image, or it is damaged.")
    expect(page.get_by_label("Photo")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("What")).to_have_value("Pane di ieri")
    expect(page.locator(".offer")).to_have_count(0)
    assert not settings.media_root.exists() or not any(settings.media_root.iterdir())


def test_the_residents_app_shows_the_thumbnail_in_the_list_and_the_photo_on_the_offers_page(browser, live):
    outside: list[str] = []
    ctx, page, _ = joined_phone(browser, live, outside)
    key, shop = merchant_with_shop(live)
    plain = post_offer(live, key, shop, title="Pane di ieri")
    offer = post_offer(live, key, shop, title="Focaccia della sera")
    r = live.http.put(f"{live.url}/api/v1/offers/{offer['id']}/photo", data=phone_jpeg((1200, 800)),
                      headers={"Authorization": f"Bearer {key}", "Content-Type": "image/jpeg"}, timeout=10)
    assert r.status_code == 200, r.text

    page.reload()
    item = page.locator("#offers li").filter(has_text="Focaccia della sera")
    expect(item).to_be_visible(timeout=WAIT_MS)
    thumb = item.locator("img.o-thumb")
    expect(thumb).to_have_attribute("src", urlsplit(r.json()["thumbnail_url"]).path)
    expect(page.locator("#offers li").filter(has_text=plain["title"]).locator("img")).to_have_count(0)
    page.wait_for_function("() => [...document.querySelectorAll('img.o-thumb')].every(i => i.complete && i.naturalWidth > 0)")
    screenshot(page, "app-near-me-photo")

    item.get_by_role("link").click()
    photo = page.locator("#offer-photo")
    expect(photo).to_be_visible(timeout=WAIT_MS)
    expect(photo).to_have_attribute("src", urlsplit(r.json()["image_url"]).path)
    page.wait_for_function("() => { const i = document.getElementById('offer-photo'); return i.complete && i.naturalWidth === 800; }")
    screenshot(page, "app-offer-photo")
    ctx.close()
    assert outside == []
