"""The `webpush` section of every push (API.md 1.1): the pure rules, the message firebase-admin
encodes, and what the FCM emulator receives from the dispatcher for an offer's alert, its price
drop and its withdrawal."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import requests
from firebase_admin import exceptions, messaging

from config import Settings, SettingsError
from dealsvc.adapters.push import SENT, FirebasePushGateway, PushMessage, to_fcm
from dealsvc.adapters.catalogues import translations
from dealsvc.domain import audience, delivery
from tests.fakes.fcm_emulator import PROJECT_ID, firebase_app_for, running_emulator
from tests.support.webpush import NEAR, PUBLIC, pipeline  # noqa: F401 (fixtures among them)

BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
NOW = datetime(2026, 11, 22, 17, 0, tzinfo=timezone.utc)
SHOP = (45.4642, 9.1900)


# --- the pure rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "ttl"),
    [
        (timedelta(hours=2), 7200),
        (timedelta(seconds=59, microseconds=999_999), 59),  # never rounded up
        (timedelta(milliseconds=400), 0),
        (timedelta(seconds=-5), 0),
        (timedelta(days=40), 28 * 24 * 3600),  # FCM keeps nothing longer
    ],
)
def test_the_ttl_is_never_above_the_seconds_left(left, ttl):
    assert delivery.ttl_s(NOW + left, NOW) == ttl
    assert delivery.ttl_s(NOW + left, NOW) <= max(0, left.total_seconds())


def test_the_topic_is_a_short_base64url_word_of_its_own_per_offer():
    ids = ["off_" + "0" * 24, "off_" + "f" * 24, "x", "off_" + "é" * 60]
    topics = [delivery.web_topic(delivery.collapse_key(offer_id)) for offer_id in ids]
    for topic in topics:
        assert len(topic) <= 32 and BASE64URL.fullmatch(topic), topic
    assert len(set(topics)) == len(ids)
    assert delivery.web_topic(delivery.collapse_key(ids[0])) == topics[0]  # the same every time


@pytest.mark.parametrize(
    ("public_url", "link"),
    [
        ("https://deals.example.org", "https://deals.example.org/app/offers/off_1"),
        ("https://city.example.org/deals", "https://city.example.org/deals/app/offers/off_1"),
        ("http://deals.example.org", None),  # firebase-admin refuses http links
        ("http://127.0.0.1:8000", None),
        (None, None),
    ],
)
def test_a_link_only_with_an_https_public_url(public_url, link):
    assert delivery.offer_link(public_url, "off_1") == link


def test_an_alert_is_urgent_and_its_updates_are_not():
    assert delivery.urgency(delivery.ALERT) == "high"
    assert delivery.urgency(delivery.PRICE_DROP) == delivery.urgency(delivery.WITHDRAWAL) == "normal"


@pytest.mark.parametrize(
    ("locale", "title", "reasons"),
    [
        ("it", "Pane di ieri da Forno Rossi: non più disponibile",
         ("Esaurita.", "Ritirata dal negozio.", "L’offerta è terminata.")),
        ("fr", "Pane di ieri chez Forno Rossi : plus disponible",
         ("Épuisée.", "Retirée par le commerçant.", "L’offre est terminée.")),
        ("en", "Pane di ieri at Forno Rossi: no longer available",
         ("Sold out.", "Withdrawn by the shop.", "The offer has ended.")),
    ],
)
def test_the_gone_words_say_why_in_the_residents_language(locale, title, reasons):
    texts = [
        audience.gone_text(title="Pane di ieri", shop_name="Forno Rossi", status=status, translations=translations(locale))
        for status in ("sold_out", "cancelled", "expired")
    ]
    assert [t.title for t in texts] == [title] * 3
    assert tuple(t.body for t in texts) == reasons


def _encoded(message: PushMessage) -> dict:
    return messaging._MessagingService.encode_message(to_fcm(message))


def _push(**changes) -> PushMessage:
    fields = dict(
        token="tok-1", data={"type": "offer", "offer_id": "off_1"}, collapse_key=delivery.collapse_key("off_1"),
        ttl_s=5400, expires_at_unix=2_000_000_000, title="-50% Bread at Forno", body="€1.00 instead of €2.00",
        urgency="high", link="https://deals.example.org/app/offers/off_1",
    )
    fields.update(changes)
    return PushMessage(**fields)


def test_firebase_admin_encodes_the_webpush_section():
    webpush = _encoded(_push())["webpush"]
    assert webpush["headers"] == {"TTL": "5400", "Urgency": "high", "Topic": delivery.web_topic("offer-off_1")}
    assert webpush["notification"] == {"title": "-50% Bread at Forno", "body": "€1.00 instead of €2.00", "tag": "offer-off_1"}
    assert webpush["fcm_options"] == {"link": "https://deals.example.org/app/offers/off_1"}
    assert "data" not in webpush  # the message's own data reaches the browser


def test_a_data_only_push_still_has_words_for_the_browser_under_the_same_tag_and_topic():
    alert = _encoded(_push())
    gone = _encoded(_push(title=None, body=None, web_title="Bread at Forno: no longer available",
                          web_body="Sold out.", urgency="normal", ttl_s=3600))
    assert "notification" not in gone and alert["notification"]["title"]  # phones update silently
    assert gone["webpush"]["notification"] == {
        "title": "Bread at Forno: no longer available", "body": "Sold out.", "tag": "offer-off_1",
    }
    assert gone["webpush"]["headers"]["Topic"] == alert["webpush"]["headers"]["Topic"]
    assert gone["webpush"]["headers"]["TTL"] == "3600" and gone["webpush"]["headers"]["Urgency"] == "normal"


def test_no_link_leaves_out_fcm_options():
    assert "fcm_options" not in _encoded(_push(link=None))["webpush"]


# --- the emulator checks the section as FCM does ----------------------------------------------


@pytest.fixture(scope="module")
def emulator():
    with running_emulator() as running:
        yield running


def _post(emulator, message: dict) -> requests.Response:
    return requests.post(emulator.send_url(), json={"message": message}, timeout=10)


def _violated_field(response: requests.Response) -> str:
    assert response.status_code == 400, response.text
    [violations] = [d for d in response.json()["error"]["details"] if "fieldViolations" in d]
    return violations["fieldViolations"][0]["field"]


@pytest.mark.parametrize(
    ("webpush", "field"),
    [
        ({"headers": {"TTL": 60}}, "message.webpush.headers"),
        ({"headers": {"TTL": "an hour"}}, "message.webpush.headers"),
        ({"headers": {"TTL": "2419201"}}, "message.webpush.headers"),
        ({"headers": {"Urgency": "urgent"}}, "message.webpush.headers"),
        ({"headers": {"Topic": "t" * 33}}, "message.webpush.headers"),
        ({"headers": {"topic": "offer off_1"}}, "message.webpush.headers"),
        ({"notification": "Bread at Forno"}, "message.webpush.notification"),
        ({"notification": {"title": 5}}, "message.webpush.notification.title"),
        ({"notification": {"tag": ["offer-1"]}}, "message.webpush.notification.tag"),
        ({"fcm_options": {"link": "http://deals.example.org/app/offers/off_1"}}, "message.webpush.fcm_options.link"),
        ({"fcm_options": {"link": "/app/offers/off_1"}}, "message.webpush.fcm_options.link"),
        ({"fcm_options": {"url": "https://deals.example.org"}}, "message.webpush.fcm_options"),
        ({"topic": "x"}, "message.webpush"),
    ],
)
def test_the_emulator_refuses_a_webpush_section_fcm_would_refuse(emulator, webpush, field):
    assert _violated_field(_post(emulator, {"token": "tok-web-refused", "webpush": webpush})) == field
    assert emulator.store.messages("tok-web-refused") == []


def test_the_emulator_takes_a_whole_webpush_section_through_firebase_admin(emulator):
    with firebase_app_for(emulator) as app:
        messaging.send(to_fcm(_push(token="tok-web-ok")), app=app)
        with pytest.raises(ValueError, match="HTTPS"):  # firebase-admin itself refuses an http link
            messaging.send(to_fcm(_push(token="tok-web-ok", link="http://deals.example.org/app/offers/off_1")), app=app)
        with pytest.raises(exceptions.InvalidArgumentError):
            messaging.send(
                messaging.Message(token="tok-web-ok", webpush=messaging.WebpushConfig(headers={"Urgency": "now"})), app=app
            )
    [received] = emulator.store.messages("tok-web-ok")
    assert received.message["webpush"] == _encoded(_push(token="tok-web-ok"))["webpush"]


# --- what the dispatcher sends -----------------------------------------------------------------


def test_an_offers_alert_price_drop_and_withdrawal_share_one_topic_and_tag(settings):
    with pipeline(settings, PUBLIC) as env:
        key = env.api.merchant()["api_key"]
        shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1], name="Forno Rossi")
        env.api.subscriber(lat=NEAR[0], lon=NEAR[1], fcm_token="tok-web", price_drops=True)
        now = env.clock.now
        expires = now + timedelta(hours=3, milliseconds=700)
        offer = env.api.offer(
            key, shop["id"], title="Pane di ieri", discount_pct=40, expires_at=expires.isoformat(),
            price_steps=[{"at": (now + timedelta(hours=1)).isoformat(), "discount_pct": 50}],
        )
        other = env.api.offer(key, shop["id"], title="Focaccia", expires_at=(now + timedelta(hours=2)).isoformat())
        env.drain()
        env.clock.advance(hours=1, seconds=20)
        assert env.container.price_steps.apply_due() == [(offer["id"], 1)]
        env.drain()
        r = env.api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": "cancelled"}, headers=env.api.h(key))
        assert r.status_code == 200, r.json
        env.drain()
        received = [m.message for m in env.emulator.store.messages("tok-web")]

    [other_alert] = [m for m in received if m["data"]["offer_id"] == other["id"]]
    [alert, drop, gone] = [m for m in received if m["data"]["offer_id"] == offer["id"]]
    assert [alert["data"]["type"], drop["data"]["type"], gone["data"]["type"]] == ["offer", "price_drop", "withdrawn"]
    key_of_offer = f"offer-{offer['id']}"
    topic = alert["webpush"]["headers"]["Topic"]
    assert len(topic) <= 32 and BASE64URL.fullmatch(topic)
    for message in (alert, drop, gone):
        assert message["webpush"]["headers"]["Topic"] == topic
        assert message["webpush"]["notification"]["tag"] == key_of_offer == message["android"]["collapse_key"]
        assert message["webpush"]["fcm_options"] == {"link": f"{PUBLIC}/app/offers/{offer['id']}"}
    assert other_alert["webpush"]["headers"]["Topic"] != topic
    assert other_alert["webpush"]["notification"]["tag"] == f"offer-{other['id']}"

    # The alert: as urgent as it gets, no longer than the 3 h 0.7 s left, the alert's words.
    assert alert["webpush"]["headers"]["Urgency"] == "high"
    assert alert["webpush"]["headers"]["TTL"] == "10800" == alert["android"]["ttl"].rstrip("s")
    assert {k: alert["webpush"]["notification"][k] for k in ("title", "body")} == alert["notification"]
    # The price drop: 1 h 20 s later, the new price, no longer than the 1 h 59 min 40.7 s left.
    assert drop["webpush"]["headers"]["Urgency"] == "normal"
    assert drop["webpush"]["headers"]["TTL"] == str(2 * 3600 - 20)
    assert drop["webpush"]["notification"]["title"] == drop["notification"]["title"] == "Now -50%: Pane di ieri at Forno Rossi"
    # The withdrawal: silent for phones, "gone" words for the browser, for its own TTL.
    assert "notification" not in gone
    assert gone["webpush"]["notification"]["title"] == "Pane di ieri at Forno Rossi: no longer available"
    assert gone["webpush"]["notification"]["body"] == "Withdrawn by the shop."
    assert gone["webpush"]["headers"]["Urgency"] == "normal"
    assert gone["webpush"]["headers"]["TTL"] == gone["android"]["ttl"].rstrip("s") == str(2 * 3600 - 20)


@pytest.mark.parametrize("public_url", [None, "http://127.0.0.1:8000"])
def test_no_link_without_an_https_public_url(settings, public_url):
    with pipeline(settings, public_url) as env:
        key = env.api.merchant()["api_key"]
        shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1])
        env.api.subscriber(lat=NEAR[0], lon=NEAR[1], fcm_token="tok-nolink")
        env.api.offer(key, shop["id"])
        env.drain()
        [alert] = [m.message for m in env.emulator.store.messages("tok-nolink")]
        [notification] = env.notifications(alert["data"]["offer_id"])
    assert notification.status == "sent"  # firebase-admin did not refuse it for an http link
    assert "fcm_options" not in alert["webpush"]
    assert alert["webpush"]["notification"]["tag"] == f"offer-{alert['data']['offer_id']}"


def test_the_public_url_setting_is_read_and_checked():
    assert Settings.from_env({}).public_url is None
    assert Settings.from_env({"DEALSVC_PUBLIC_URL": "https://deals.example.org/"}).public_url == "https://deals.example.org"
    assert Settings.from_env({"DEALSVC_PUBLIC_URL": "http://127.0.0.1:8000"}).public_url == "http://127.0.0.1:8000"
    # Typed in capitals: still an https link that firebase-admin takes (it checks "https://" as written).
    shouted = Settings.from_env({"DEALSVC_PUBLIC_URL": "HTTPS://Deals.Example.org/Milano"}).public_url
    assert shouted == "https://deals.example.org/Milano"
    link = delivery.offer_link(shouted, "off_1")
    assert to_fcm(_push(link=link)).webpush.fcm_options.link == "https://deals.example.org/Milano/app/offers/off_1"
    assert _encoded(_push(link=link))["webpush"]["fcm_options"]["link"] == link
    for bad in ("https://user:secret@deals.example.org", "https://user@deals.example.org",
                "deals.example.org", "ftp://deals.example.org", "https://", "https://deals.example.org/?a=1",
                "https://deals.example.org/#top", "https://deals.example.org:port", "https://deals example.org"):
        with pytest.raises(SettingsError, match="DEALSVC_PUBLIC_URL"):
            Settings.from_env({"DEALSVC_PUBLIC_URL": bad})


def test_the_gateway_reports_a_webpush_push_as_sent(emulator):
    gateway = FirebasePushGateway(project_id=PROJECT_ID, endpoint=emulator.fcm_base)
    try:
        [result] = gateway.send([_push(token="tok-web-gateway")])
    finally:
        gateway.close()
    assert result.outcome == SENT
    [received] = emulator.store.messages("tok-web-gateway")
    assert received.message["webpush"]["notification"]["tag"] == "offer-off_1"
