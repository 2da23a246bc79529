"""The residents' web app as the server draws it (Flask test client, both engines): its pages in
the three languages, the manifest with the service's name, the icons, the service worker and its
shell, the offline page, and what the pages may load (only this service; under 300 KB of script)."""
from __future__ import annotations

import json
import re
import struct

import pytest

from config import Settings
from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS

from tests.support.app_pages import PAGES, config_of, scripts_of  # noqa: F401
BRAND = "Spesa Sospesa"


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(database_url=database_url, admin_token=ADMIN_TOKEN, var_dir=tmp_path, geocoder="none",
                    auto_migrate=True, brand=BRAND, **GENEROUS_RATE_LIMITS)


@pytest.mark.parametrize("header, lang, tab, joined_text", [
    ("it-IT,it;q=0.9", "it", "Vicino a me", "Sei iscritto. Gli avvisi per le offerte intorno a te sono in arrivo."),
    ("fr-FR", "fr", "Près de moi", "Vous êtes inscrit. Les alertes pour les offres autour de vous vont arriver."),
    ("en-GB", "en", "Near me", "You are in. Alerts for offers around you are on their way."),
])
@pytest.mark.parametrize("path", PAGES)
def test_every_page_of_the_app_speaks_the_browsers_language(client, path, header, lang, tab, joined_text):
    r = client.get(path, headers={"Accept-Language": header})
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert f'<html lang="{lang}">' in r.text
    assert f">{tab}</a>" in r.text
    assert config_of(r.text)["texts"]["joined"] == joined_text  # the script's words too
    assert '<link rel="manifest" href="/app/manifest.webmanifest">' in r.text
    assert BRAND in r.text


def test_joining_offers_every_category_in_the_page_language_and_the_operators_radius(client, api):
    api.rules(max_radius_m=3000, default_radius_m=800)
    html = client.get("/app/join", headers={"Accept-Language": "it"}).text
    assert re.search(r'<input id="radius_m" name="radius_m" type="range" min="100" max="3000" step="100" value="800">', html)
    assert 'value="bakery"> panetteria</label>' in html and 'value="prepared_meals"> piatti pronti</label>' in html
    assert re.search(r'<option value="it" lang="it" selected>Italiano</option>', html)
    for label in ("Usa la mia posizione", "Metti il segnaposto al centro della mappa", "Ore di silenzio", "Lingua degli avvisi"):
        assert label in html


def test_the_manifest_names_the_service_and_its_icons_are_there(client):
    r = client.get("/app/manifest.webmanifest", headers={"Accept-Language": "fr"})
    assert r.status_code == 200 and r.mimetype == "application/manifest+json"
    manifest = r.get_json(force=True)
    assert manifest["name"] == BRAND and manifest["start_url"] == "/app/" and manifest["scope"] == "/app/"
    assert manifest["display"] == "standalone" and manifest["lang"] == "fr"
    assert manifest["description"].startswith("Les invendus alimentaires")
    purposes = {icon["purpose"] for icon in manifest["icons"]}
    assert purposes == {"any", "maskable"}
    for icon in manifest["icons"]:
        png = client.get(icon["src"])
        assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png.data[16:24])
        assert f"{width}x{height}" == icon["sizes"]


def test_the_service_worker_controls_the_app_and_caches_a_shell_that_exists(client):
    r = client.get("/app/sw.js")
    assert r.status_code == 200 and r.mimetype == "text/javascript"
    assert r.headers["Service-Worker-Allowed"] == "/app/"
    assert "no-cache" in r.headers["Cache-Control"]
    shell = json.loads(re.search(r"var SHELL = (\[.*?\]);", r.text).group(1))
    assert "/app/offline" in shell and any(url.startswith("/assets/vendor/leaflet/leaflet.js?v=") for url in shell)
    for url in shell:
        assert client.get(url).status_code == 200, url
    assert "addEventListener(\"push\"" in r.text and "function show(payload)" in r.text


def test_the_offline_page_is_the_one_the_worker_keeps(client):
    r = client.get("/app/offline", headers={"Accept-Language": "it"})
    assert r.status_code == 200 and "Sei offline" in r.text
    assert "csrf_token" not in r.text  # nothing in it goes stale in the cache


def test_with_default_settings_the_pages_load_nothing_from_elsewhere_and_little_script(client):
    for path in PAGES:
        r = client.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "img-src 'self' data:;" in csp and "connect-src 'self';" in csp and "script-src 'self';" in csp
        config = config_of(r.text)
        assert config["tiles"] is None and config["firebase"] is None and config["firebaseScripts"] == []
        assert "vendor/firebase" not in r.text
        assert not re.search(r'(src|href)="(https?:)?//', r.text)
        # What runs before the page is useful: its scripts, all from here, under 300 KB.
        total = sum(len(client.get(src).data) for src in scripts_of(r.text))
        assert total < 300 * 1024, (path, total)


def test_the_app_without_a_slash_is_the_app(client):
    r = client.get("/app")
    assert r.status_code == 308 and r.headers["Location"].endswith("/app/")


def test_vendored_libraries_record_their_version_and_licence():
    from pathlib import Path

    vendor = Path(__file__).resolve().parents[2] / "dealsvc" / "web" / "static" / "vendor"
    for name, licence in (("leaflet", "BSD-2-Clause"), ("firebase", "Apache-2.0")):
        version = (vendor / name / "VERSION").read_text()
        assert version.startswith(name + " ") and f"licence: {licence}" in version
        assert (vendor / name / "LICENSE").stat().st_size > 0
    # Apache-2.0 asks for its text to go with the files (4 (a)): the text, not a link to it.
    apache = (vendor / "firebase" / "LICENSE").read_text()
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in apache and "END OF TERMS AND CONDITIONS" in apache


@pytest.mark.parametrize("header, offers, left", [
    ("it", {"one": "{n} offerta intorno a te.", "many": "{n} offerte intorno a te.", "other": "{n} offerte intorno a te."},
     {"one": "ne resta {n}", "many": "ne restano {n}", "other": "ne restano {n}"}),
    ("fr", {"one": "{n} offre autour de vous.", "many": "{n} offres autour de vous.", "other": "{n} offres autour de vous."},
     {"one": "encore {n}", "many": "encore {n}", "other": "encore {n}"}),
    ("en", {"one": "{n} offer around you.", "other": "{n} offers around you."}, {"one": "{n} left", "other": "{n} left"}),
])
def test_texts_with_a_number_come_in_each_plural_form_of_the_language(client, header, offers, left):
    """By CLDR category (one, many, other...), for the script's Intl.PluralRules to choose from."""
    texts = config_of(client.get("/app/", headers={"Accept-Language": header}).text)["texts"]
    assert texts["offers"] == offers and texts["left"] == left


def test_the_pages_ask_for_each_file_by_its_contents_and_the_worker_keeps_those(client):
    """After a deploy a page asks for the new app.js (its URL carries the content's hash), never
    the one the worker kept from before; the worker's shell holds the very URLs the pages use."""
    import hashlib
    from pathlib import Path

    static = Path(__file__).resolve().parents[2] / "dealsvc" / "web" / "static"
    shell = json.loads(re.search(r"var SHELL = (\[.*?\]);", client.get("/app/sw.js").text).group(1))
    html = client.get("/app/").text
    used = scripts_of(html) + re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert len(used) == 6
    for url in used:
        path, version = url.split("?v=")
        assert version == hashlib.sha256((static / path.removeprefix("/assets/")).read_bytes()).hexdigest()[:12]
        assert url in shell
    offline = client.get("/app/offline").text
    assert all(url in shell for url in re.findall(r'<link rel="stylesheet" href="([^"]+)"', offline))


@pytest.mark.parametrize("path, name", [("/app/", "Mappa delle offerte intorno a te"), ("/app/offers/any-offer", "Mappa: dove si trova il negozio")])
def test_the_maps_are_named_regions_for_screen_readers(client, path, name):
    """An aria-label counts on an element with a role: the map is a region with its name."""
    html = client.get(path, headers={"Accept-Language": "it"}).text
    assert re.search(rf'<div id="map" [^>]*role="region" aria-label="{name}"', html)
