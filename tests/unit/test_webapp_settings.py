"""The residents' web app's settings: real web push (Firebase web config, VAPID key) and map
tiles, checked once at start so that a mistake stops the service with a clear line."""
from __future__ import annotations

import base64
import json

import pytest

from config import Settings, SettingsError

WEB_CONFIG = {
    "apiKey": "AIzaSyD-example-key",
    "authDomain": "dealsvc-prod.firebaseapp.com",
    "projectId": "dealsvc-prod",
    "storageBucket": "dealsvc-prod.appspot.com",
    "messagingSenderId": "123456789012",
    "appId": "1:123456789012:web:abcdef0123456789",
}
# A P-256 public key as Firebase's console shows it: 65 bytes (0x04, x, y) in URL-safe base64.
VAPID = base64.urlsafe_b64encode(b"\x04" + bytes(range(64))).decode().rstrip("=")


def _from(**variables: str) -> Settings:
    return Settings.from_env({f"DEALSVC_{name}": value for name, value in variables.items()})


def test_unset_means_the_emulator_and_maps_without_tiles():
    settings = _from()
    assert settings.firebase_web_config is None and settings.firebase_vapid_key is None
    assert settings.map_tiles is None and settings.map_attribution is None


def test_a_firebase_web_config_is_read_as_an_object_that_cannot_be_changed():
    config = _from(FIREBASE_WEB_CONFIG=json.dumps(WEB_CONFIG), FIREBASE_VAPID_KEY=VAPID).firebase_web_config
    assert dict(config) == WEB_CONFIG
    with pytest.raises(TypeError):
        config["apiKey"] = "another"  # type: ignore[index]
    minimal = {key: WEB_CONFIG[key] for key in ("apiKey", "projectId", "messagingSenderId", "appId")}
    assert dict(_from(FIREBASE_WEB_CONFIG=json.dumps(minimal), FIREBASE_VAPID_KEY=VAPID).firebase_web_config) == minimal


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("apiKey=AIza", "is not JSON"),
        ("{'apiKey': 'AIza'}", "is not JSON"),
        ('["apiKey"]', "JSON object"),
        (json.dumps({k: v for k, v in WEB_CONFIG.items() if k != "appId"}), "lacks appId"),
        (json.dumps({**WEB_CONFIG, "messagingSenderId": 123456789012}), "lacks messagingSenderId"),
        (json.dumps({**WEB_CONFIG, "apiKey": " "}), "lacks apiKey"),
        (json.dumps({"authDomain": "x"}), "lacks apiKey, projectId, messagingSenderId, appId"),
        (json.dumps({**WEB_CONFIG, "measurementId": None}), "values must be strings; not measurementId"),
    ],
)
def test_a_firebase_web_config_that_is_not_one_stops_the_start(value, says):
    with pytest.raises(SettingsError, match="DEALSVC_FIREBASE_WEB_CONFIG") as raised:
        _from(FIREBASE_WEB_CONFIG=value)
    assert says in str(raised.value)


def test_the_vapid_key_is_the_certificates_public_key():
    assert _from(FIREBASE_VAPID_KEY=f" {VAPID} ", FIREBASE_WEB_CONFIG=json.dumps(WEB_CONFIG)).firebase_vapid_key == VAPID
    assert len(VAPID) == 87


@pytest.mark.parametrize(
    "value",
    [
        "not-a-key",
        VAPID[:-4],  # cut short
        base64.urlsafe_b64encode(b"\x02" + bytes(range(64))).decode().rstrip("="),  # not an uncompressed point
        base64.b64encode(b"\x04" + bytes([251] * 64)).decode(),  # standard base64 (+ and /)
        VAPID[:40] + "!" + VAPID[41:],
    ],
)
def test_anything_else_as_the_vapid_key_stops_the_start(value):
    with pytest.raises(SettingsError, match="DEALSVC_FIREBASE_VAPID_KEY"):
        _from(FIREBASE_VAPID_KEY=value)


@pytest.mark.parametrize("variables, lacking", [
    ({"FIREBASE_WEB_CONFIG": json.dumps(WEB_CONFIG)}, "DEALSVC_FIREBASE_VAPID_KEY is not"),
    ({"FIREBASE_VAPID_KEY": VAPID}, "DEALSVC_FIREBASE_WEB_CONFIG is not"),
])
def test_half_of_the_web_push_settings_stops_the_start(variables, lacking):
    with pytest.raises(SettingsError, match=lacking):
        _from(**variables)


def test_real_web_push_with_pushes_going_elsewhere_than_fcm_is_said_at_start():
    web_push = {"FIREBASE_WEB_CONFIG": json.dumps(WEB_CONFIG), "FIREBASE_VAPID_KEY": VAPID}
    assert "pushes go to the built-in emulator" in _from(**web_push).web_push_warning
    assert "pushes go to http://127.0.0.1:9099/" in _from(**web_push, FCM_ENDPOINT="http://127.0.0.1:9099/").web_push_warning
    assert _from().web_push_warning is None


@pytest.mark.parametrize(
    "template",
    [
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "https://{s}.tile.example.org/{z}/{x}/{y}{r}.png",
        "http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png",
        "/tiles/{z}/{x}/{y}.png",  # served by this service: no other origin
    ],
)
def test_map_tiles_are_a_url_template(template):
    settings = _from(MAP_TILES=template, MAP_ATTRIBUTION="  © OpenStreetMap   contributors ")
    assert settings.map_tiles == template
    assert settings.map_attribution == "© OpenStreetMap contributors"


@pytest.mark.parametrize(
    "template",
    [
        "https://tile.openstreetmap.org/{z}/{x}.png",  # no {y}
        "https://tile.openstreetmap.org/tiles.png",
        "tile.openstreetmap.org/{z}/{x}/{y}.png",  # no scheme
        "//tile.openstreetmap.org/{z}/{x}/{y}.png",
        "javascript:alert(1)//{z}/{x}/{y}",
        "ftp://tiles.example.org/{z}/{x}/{y}.png",
    ],
)
def test_a_map_tiles_value_that_is_no_template_stops_the_start(template):
    with pytest.raises(SettingsError, match="DEALSVC_MAP_TILES"):
        _from(MAP_TILES=template)


def test_an_attribution_without_tiles_or_too_long_stops_the_start():
    with pytest.raises(SettingsError, match="without DEALSVC_MAP_TILES"):
        _from(MAP_ATTRIBUTION="© OpenStreetMap contributors")
    with pytest.raises(SettingsError, match="DEALSVC_MAP_ATTRIBUTION must be at most 300"):
        _from(MAP_TILES="https://tile.openstreetmap.org/{z}/{x}/{y}.png", MAP_ATTRIBUTION="x" * 301)
