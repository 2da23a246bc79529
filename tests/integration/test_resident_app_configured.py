"""The residents' web app when the operator configures map tiles and real web push
(DEALSVC_MAP_TILES, DEALSVC_MAP_ATTRIBUTION, DEALSVC_FIREBASE_WEB_CONFIG, DEALSVC_FIREBASE_VAPID_KEY):
the pages may then reach the tile server and Firebase's registration endpoints, and nothing else;
the Firebase SDK (app and messaging only) is offered to the script, still under 300 KB."""
from __future__ import annotations

import base64
import dataclasses
import json
import re

import pytest

from config import Settings
from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS
from tests.support.app_pages import PAGES, config_of, scripts_of

TILES = "https://{s}.tile.example.org/{z}/{x}/{y}.png"
FIREBASE = {"apiKey": "AIzaSyExample", "projectId": "deals-city", "messagingSenderId": "123456789012", "appId": "1:123456789012:web:abc"}
VAPID = base64.urlsafe_b64encode(b"\x04" + bytes(range(64))).decode().rstrip("=")


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    configured = Settings.from_env({
        "DEALSVC_DATABASE_URL": database_url, "DEALSVC_ADMIN_TOKEN": ADMIN_TOKEN, "DEALSVC_GEOCODER": "none",
        "DEALSVC_MAP_TILES": TILES, "DEALSVC_MAP_ATTRIBUTION": "© Example tiles",
        "DEALSVC_FIREBASE_WEB_CONFIG": json.dumps(FIREBASE), "DEALSVC_FIREBASE_VAPID_KEY": VAPID,
    })
    return dataclasses.replace(configured, var_dir=tmp_path, auto_migrate=True, **GENEROUS_RATE_LIMITS)


@pytest.mark.parametrize("path", PAGES)
def test_configured_tiles_and_web_push_widen_the_pages_only_to_them(client, path):
    r = client.get(path)
    csp = r.headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://*.tile.example.org;" in csp
    assert ("connect-src 'self' https://firebaseinstallations.googleapis.com https://fcmregistrations.googleapis.com;") in csp
    assert "script-src 'self';" in csp  # the SDK is served from here too
    config = config_of(r.text)
    assert config["tiles"] == TILES and config["attribution"] == "© Example tiles"
    assert config["push"] == "firebase" and config["firebase"] == FIREBASE and config["vapidKey"] == VAPID
    assert config["emulator"] is None
    assert [src.split("?v=")[0] for src in config["firebaseScripts"]] == [
        "/assets/vendor/firebase/firebase-app-compat.js", "/assets/vendor/firebase/firebase-messaging-compat.js"]
    # Everything a page may run with push configured (its scripts and the SDK it loads), under 300 KB.
    total = sum(len(client.get(src).data) for src in scripts_of(r.text) + config["firebaseScripts"])
    assert total < 300 * 1024, (path, total)
    assert not re.search(r'<script src="https?:', r.text)
