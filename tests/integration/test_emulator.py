"""The built-in FCM emulator, driven by the real firebase-admin over HTTP on 127.0.0.1."""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import firebase_admin
import pytest
import requests
from firebase_admin import exceptions, messaging
from flask import Flask

from dealsvc.emulator import EmulatorStore, create_blueprint
from tests.fakes.fcm_emulator import (
    PROJECT_ID,
    AnonymousCredential,
    RunningEmulator,
    firebase_app_for,
    running_emulator,
)

# FCM's v1 field is still `token`, and tokens are what residents' phones give the service;
# firebase-admin 7.7.0 warns that it prefers `fid`, which is beside the point here.
pytestmark = pytest.mark.filterwarnings("ignore:Message.token is deprecated:DeprecationWarning")

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
MESSAGE_NAME = re.compile(r"projects/dealsvc-test/messages/0:\d{16}%[0-9a-f]+")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def emulator():
    with running_emulator() as running:
        yield running


@pytest.fixture
def fcm(emulator):
    emulator.store.clear()
    yield emulator
    emulator.store.clear()


@pytest.fixture(scope="module")
def firebase_app(emulator):
    # One App for the module: building firebase-admin's HTTP clients takes a noticeable 0.3 s.
    with firebase_app_for(emulator) as app:
        yield app


@pytest.fixture
def app(fcm, firebase_app):
    return firebase_app


def offer_message(token: str, offer_id: str = "of_42", **changes) -> messaging.Message:
    fields = dict(
        token=token,
        data={
            "offer_id": offer_id,
            "shop_id": "sh_7",
            "title": "Pane di ieri",
            "price_cents": "150",
            "discount_pct": "50",
            "expires_at": "2026-11-22T18:30:00Z",
        },
        notification=messaging.Notification(title="-50 % Pane di ieri", body="Forno Rossi, 300 m, until 19:30"),
        android=messaging.AndroidConfig(ttl=dt.timedelta(seconds=3600), collapse_key=f"offer-{offer_id}"),
        apns=messaging.APNSConfig(headers={"apns-expiration": "1795372200", "apns-collapse-id": f"offer-{offer_id}"}),
    )
    fields.update(changes)
    return messaging.Message(**fields)


def post_raw(fcm, message: dict, **body) -> requests.Response:
    """What firebase-admin would refuse to send, sent anyway, as FCM's v1 API receives it."""
    return requests.post(fcm.send_url(), json={"message": message, **body}, timeout=10)


def single_violation(response: requests.Response) -> dict:
    """Check the body is FCM's INVALID_ARGUMENT shape and return its one field violation."""
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT" and error["message"]
    fcm_error, bad_request = error["details"]
    assert fcm_error == {"@type": FCM_ERROR, "errorCode": "INVALID_ARGUMENT"}
    assert bad_request["@type"] == BAD_REQUEST
    (violation,) = bad_request["fieldViolations"]
    assert violation["description"]
    return violation


# -- the firebase-admin internal the project relies on ---------------------------------------


def test_firebase_admin_still_keeps_the_fcm_url_where_the_project_redirects_it():
    """Fails loudly when an upgrade moves the internal that points firebase-admin at another server."""
    version = firebase_admin.__version__
    service_class = getattr(messaging, "_MessagingService", None)
    assert service_class is not None, f"firebase-admin {version}: messaging._MessagingService is gone"
    assert callable(getattr(messaging, "_get_messaging_service", None)), (
        f"firebase-admin {version}: messaging._get_messaging_service is gone"
    )
    assert getattr(service_class, "FCM_URL", None) == "https://fcm.googleapis.com/v1/projects/{0}/messages:send", (
        f"firebase-admin {version}: _MessagingService.FCM_URL changed; the endpoint override must be revisited"
    )
    app = firebase_admin.initialize_app(AnonymousCredential(), {"projectId": "internals-check"}, name="internals-check")
    try:
        service = messaging._get_messaging_service(app)
        assert getattr(service, "_fcm_url", None) == service_class.FCM_URL.format("internals-check"), (
            f"firebase-admin {version}: the instance no longer sends to self._fcm_url"
        )
    finally:
        firebase_admin.delete_app(app)


# -- delivery ----------------------------------------------------------------------------------


def test_send_returns_the_message_name_and_the_emulator_keeps_the_whole_message(fcm, app):
    before = dt.datetime.now(dt.timezone.utc)
    name = messaging.send(offer_message("tok-anna"), app=app)

    assert MESSAGE_NAME.fullmatch(name), name
    (received,) = fcm.store.messages("tok-anna")
    assert received.name == name and name.endswith("/" + received.id)
    assert before <= received.received_at <= dt.datetime.now(dt.timezone.utc)
    assert received.message == {
        "token": "tok-anna",
        "data": {
            "offer_id": "of_42",
            "shop_id": "sh_7",
            "title": "Pane di ieri",
            "price_cents": "150",
            "discount_pct": "50",
            "expires_at": "2026-11-22T18:30:00Z",
        },
        "notification": {"title": "-50 % Pane di ieri", "body": "Forno Rossi, 300 m, until 19:30"},
        "android": {"ttl": "3600s", "collapse_key": "offer-of_42"},
        "apns": {"headers": {"apns-expiration": "1795372200", "apns-collapse-id": "offer-of_42"}},
    }

    listed = requests.get(f"{fcm.root}/api/messages", params={"token": "tok-anna"}, timeout=10).json()["items"]
    assert listed == [received.to_json()]
    assert listed[0]["received_at"].endswith("Z")


def test_fractional_ttl_arrives_as_firebase_admin_encodes_it(fcm, app):
    messaging.send(offer_message("tok-frac", android=messaging.AndroidConfig(ttl=90.25, collapse_key="offer-1")), app=app)

    (received,) = fcm.store.messages("tok-frac")
    assert received.message["android"] == {"ttl": "90.250000000s", "collapse_key": "offer-1"}


def test_messages_are_kept_per_token_in_order_and_listed_with_counts(fcm, app):
    for token, offer in [("tok-a", "of_1"), ("tok-b", "of_2"), ("tok-a", "of_3")]:
        messaging.send(offer_message(token, offer), app=app)

    assert [m.message["data"]["offer_id"] for m in fcm.store.messages("tok-a")] == ["of_1", "of_3"]
    everything = requests.get(f"{fcm.root}/api/messages", timeout=10).json()["items"]
    assert [(m["token"], m["message"]["data"]["offer_id"]) for m in everything] == [
        ("tok-a", "of_1"),
        ("tok-b", "of_2"),
        ("tok-a", "of_3"),
    ]
    assert len({m["id"] for m in everything}) == 3
    tokens = requests.get(f"{fcm.root}/api/tokens", timeout=10).json()["items"]
    assert {t["token"]: (t["messages"], t["attempts"]) for t in tokens} == {"tok-a": (2, 2), "tok-b": (1, 1)}


def test_send_each_delivers_concurrent_messages_each_under_its_own_id(fcm, app):
    tokens = [f"tok-{i:02d}" for i in range(40)]
    batch = messaging.send_each([offer_message(t) for t in tokens], app=app)

    assert batch.success_count == 40 and batch.failure_count == 0
    names = [r.message_id for r in batch.responses]
    assert len(set(names)) == 40 and all(MESSAGE_NAME.fullmatch(n) for n in names)
    assert sorted(m.token for m in fcm.store.messages()) == tokens
    assert {m.name for m in fcm.store.messages()} == set(names)


def test_dry_run_validates_without_storing(fcm, app):
    name = messaging.send(offer_message("tok-dry"), dry_run=True, app=app)

    assert name == f"projects/{PROJECT_ID}/messages/fake_message_id"
    assert fcm.store.messages() == []
    assert fcm.store.attempts("tok-dry") == 1
    with pytest.raises(exceptions.InvalidArgumentError):
        messaging.send(offer_message("tok-dry", data={"from": "x"}), dry_run=True, app=app)


def test_topics_and_installation_ids_are_targets_too(fcm, app):
    messaging.send(messaging.Message(topic="/topics/milan-bakeries", data={"a": "1"}), app=app)
    messaging.send(messaging.Message(fid="fid-123", data={"a": "2"}), app=app)

    assert [m.message["data"] for m in fcm.store.messages("/topics/milan-bakeries")] == [{"a": "1"}]
    assert [m.message["data"] for m in fcm.store.messages("fid-123")] == [{"a": "2"}]


def test_the_blueprint_serves_under_any_prefix_in_a_host_app():
    store = EmulatorStore()
    host = Flask("host")
    host.register_blueprint(create_blueprint(store, url_prefix="/dev/fcm-emulator"))
    client = host.test_client()

    sent = client.post(
        "/dev/fcm-emulator/fcm/v1/projects/other/messages:send", json={"message": {"token": "t", "data": {"k": "v"}}}
    )

    assert sent.status_code == 200
    assert sent.get_json()["name"].startswith("projects/other/messages/0:")
    assert client.get("/dev/fcm-emulator/api/tokens").get_json()["items"][0]["token"] == "t"
    assert store.messages("t")[0].project == "other"


# -- faults, as firebase-admin reports them -----------------------------------------------------


@pytest.mark.parametrize(
    ("token", "exception", "http_status", "error_code"),
    [
        ("unregistered-anna", messaging.UnregisteredError, 404, "UNREGISTERED"),
        ("invalid-anna", exceptions.InvalidArgumentError, 400, "INVALID_ARGUMENT"),
        ("mismatch-anna", messaging.SenderIdMismatchError, 403, "SENDER_ID_MISMATCH"),
    ],
)
def test_token_prefixes_answer_as_fcm_does_for_dead_tokens(fcm, app, token, exception, http_status, error_code):
    with pytest.raises(exception) as raised:
        messaging.send(offer_message(token), app=app)

    assert raised.value.http_response.status_code == http_status
    error = raised.value.http_response.json()["error"]
    assert error["code"] == http_status
    assert error["details"][0] == {"@type": FCM_ERROR, "errorCode": error_code}
    assert fcm.store.messages(token) == []
    assert fcm.store.attempts(token) == 1


def test_an_invalid_token_is_reported_on_the_token_field(fcm, app):
    with pytest.raises(exceptions.InvalidArgumentError) as raised:
        messaging.send(offer_message("invalid-bob"), app=app)

    assert str(raised.value) == "The registration token is not a valid FCM registration token"
    violation = single_violation(raised.value.http_response)
    assert violation["field"] == "message.token"


def test_unavailable_once_succeeds_through_firebase_admins_own_retry(fcm, app):
    name = messaging.send(offer_message("unavailable-once-carla"), app=app)

    assert MESSAGE_NAME.fullmatch(name)
    assert fcm.store.attempts("unavailable-once-carla") == 2
    assert [m.name for m in fcm.store.messages("unavailable-once-carla")] == [name]
    messaging.send(offer_message("unavailable-once-carla"), app=app)
    assert fcm.store.attempts("unavailable-once-carla") == 3


def test_persistent_quota_internal_and_unavailable_after_firebase_admins_retries(fcm, app):
    """Sent together, so firebase-admin's backoff (about 8 s here) is paid once."""
    requests.post(f"{fcm.root}/api/faults", json={"token": "tok-down", "fault": "unavailable"}, timeout=10)
    tokens = ["quota-dora", "internal-dora", "tok-down"]

    started = time.monotonic()
    batch = messaging.send_each([offer_message(t) for t in tokens], app=app)
    elapsed = time.monotonic() - started

    quota, internal, unavailable = (r.exception for r in batch.responses)
    assert isinstance(quota, messaging.QuotaExceededError)
    assert quota.http_response.status_code == 429
    assert quota.http_response.headers["Retry-After"] == "2"
    assert quota.http_response.json()["error"]["details"][0]["errorCode"] == "QUOTA_EXCEEDED"
    assert isinstance(internal, exceptions.InternalError) and internal.http_response.status_code == 500
    assert isinstance(unavailable, exceptions.UnavailableError) and unavailable.http_response.status_code == 503
    # firebase-admin's urllib3 retry: 4 retries on 500/503 (backoff 0, 1, 2, 4 s), and on a 429
    # that carries Retry-After, sleeping what it says: 4 × 2 s before QuotaExceededError surfaces.
    assert [fcm.store.attempts(t) for t in tokens] == [5, 5, 5]
    assert 8 <= elapsed < 20, elapsed
    assert fcm.store.messages() == []


# -- faults through the emulator's API --------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "http_status", "status", "error_code"),
    [
        ("unregistered", 404, "NOT_FOUND", "UNREGISTERED"),
        ("invalid", 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        ("mismatch", 403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
        ("unavailable", 503, "UNAVAILABLE", "UNAVAILABLE"),
        ("quota", 429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
        ("internal", 500, "INTERNAL", "INTERNAL"),
    ],
)
def test_every_fault_set_through_the_api_answers_fcms_error_body_then_clears(fcm, fault, http_status, status, error_code):
    set_ = requests.post(f"{fcm.root}/api/faults", json={"token": "tok-eve", "fault": fault, "times": 1}, timeout=10)
    assert set_.status_code == 200 and set_.json()["fault"] == fault and set_.json()["times"] == 1

    # Raw HTTP, not firebase-admin: its retries would use the single fault up on 500 and 503.
    failed = post_raw(fcm, {"token": "tok-eve", "data": {"k": "v"}})
    after = post_raw(fcm, {"token": "tok-eve", "data": {"k": "v"}})

    assert failed.status_code == http_status
    assert failed.headers["Content-Type"].startswith("application/json")
    error = failed.json()["error"]
    assert (error["code"], error["status"]) == (http_status, status) and error["message"]
    assert error["details"][0] == {"@type": FCM_ERROR, "errorCode": error_code}
    assert ("Retry-After" in failed.headers) == (fault == "quota")
    assert after.status_code == 200
    assert fcm.store.attempts("tok-eve") == 2 and len(fcm.store.messages("tok-eve")) == 1


def test_api_faults_override_prefixes_and_clearing_everything_restores_them(fcm, app):
    def fault(token, kind, **extra):
        response = requests.post(f"{fcm.root}/api/faults", json={"token": token, "fault": kind, **extra}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    assert fault("unregistered-fay", None) == {"token": "unregistered-fay", "fault": None, "times": None, "retry_after": None}
    messaging.send(offer_message("unregistered-fay"), app=app)
    assert fault("tok-gus", "unregistered", times=2)["times"] == 2
    for _ in range(2):
        with pytest.raises(messaging.UnregisteredError):
            messaging.send(offer_message("tok-gus"), app=app)
    messaging.send(offer_message("tok-gus"), app=app)
    assert fault("tok-hal", "quota", retry_after=0)["retry_after"] == 0

    tokens = {t["token"]: t for t in requests.get(f"{fcm.root}/api/tokens", timeout=10).json()["items"]}
    assert tokens["tok-gus"] == {"token": "tok-gus", "messages": 1, "attempts": 3, "fault": None}
    assert tokens["tok-hal"]["fault"] == {"fault": "quota", "times": None, "retry_after": 0}

    assert requests.delete(f"{fcm.root}/api/messages", timeout=10).status_code == 204
    assert requests.get(f"{fcm.root}/api/messages", timeout=10).json() == {"items": []}
    assert requests.get(f"{fcm.root}/api/tokens", timeout=10).json() == {"items": []}
    with pytest.raises(messaging.UnregisteredError):
        messaging.send(offer_message("unregistered-fay"), app=app)


def test_a_retry_after_set_on_unavailable_is_sent_with_it(fcm):
    requests.post(
        f"{fcm.root}/api/faults", json={"token": "tok-ivy", "fault": "unavailable", "retry_after": 7}, timeout=10
    )

    response = post_raw(fcm, {"token": "tok-ivy"})

    assert response.status_code == 503 and response.headers["Retry-After"] == "7"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"token": "t", "fault": "flood"}, "fault"),
        ({"fault": "quota"}, "token"),
        ({"token": "t", "fault": "quota", "times": 0}, "times"),
        ({"token": "t", "fault": "quota", "times": True}, "times"),
        ({"token": "t", "fault": "quota", "retry_after": -1}, "retry_after"),
        ({"token": "t", "fault": "quota", "color": "red"}, "color"),
    ],
)
def test_the_fault_api_refuses_what_it_cannot_honour(fcm, body, field):
    response = requests.post(f"{fcm.root}/api/faults", json=body, timeout=10)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]
    assert fcm.store.tokens() == []


# -- faults for every token (FCM down, slow, odd) -----------------------------------------------


@pytest.mark.parametrize(
    ("body", "http_status", "status", "retry_after"),
    [
        ({"fault": "unavailable"}, 503, "UNAVAILABLE", None),
        ({"fault": "unavailable", "retry_after": 30}, 503, "UNAVAILABLE", "30"),
        ({"fault": "unauthenticated"}, 401, "UNAUTHENTICATED", None),
        ({"fault": "permission_denied"}, 403, "PERMISSION_DENIED", None),
        ({"fault": "quota", "retry_after": 1000000000000000}, 429, "RESOURCE_EXHAUSTED", "1000000000000000"),
        ({"fault": "quota", "retry_after": "Wed, 21 Oct 2037 07:28:00 GMT"}, 429, "RESOURCE_EXHAUSTED",
         "Wed, 21 Oct 2037 07:28:00 GMT"),
    ],
)
def test_a_global_fault_answers_every_token_until_cleared(fcm, body, http_status, status, retry_after):
    set_ = requests.put(f"{fcm.root}/api/faults/global", json=body, timeout=10)
    assert set_.status_code == 200, set_.text
    assert set_.json()["fault"] == body["fault"]
    assert requests.get(f"{fcm.root}/api/faults/global", timeout=10).json()["fault"] == body["fault"]

    answers = [post_raw(fcm, {"token": token, "data": {"k": "v"}}) for token in ("tok-a", "tok-b", "unregistered-c")]
    assert [a.status_code for a in answers] == [http_status] * 3
    assert all(a.json()["error"]["status"] == status for a in answers)
    assert all(a.headers.get("Retry-After") == retry_after for a in answers)
    # SENDER_ID_MISMATCH is a token's answer; PERMISSION_DENIED for everyone names no errorCode.
    if body["fault"] in ("unauthenticated", "permission_denied"):
        assert answers[0].json()["error"]["details"] == []

    assert requests.delete(f"{fcm.root}/api/faults/global", timeout=10).status_code == 204
    assert post_raw(fcm, {"token": "tok-a", "data": {"k": "v"}}).status_code == 200
    assert post_raw(fcm, {"token": "unregistered-c", "data": {"k": "v"}}).status_code == 404  # prefixes again
    assert fcm.store.messages() == fcm.store.messages("tok-a")


def test_a_global_200_without_name_delivers_and_a_delay_slows_every_answer(fcm, app):
    requests.put(f"{fcm.root}/api/faults/global", json={"fault": "no_name", "times": 1}, timeout=10)
    odd = post_raw(fcm, {"token": "tok-n", "data": {"k": "v"}})
    assert odd.status_code == 200 and odd.json() == {}
    assert len(fcm.store.messages("tok-n")) == 1
    assert "name" in post_raw(fcm, {"token": "tok-n", "data": {"k": "v"}}).json()  # times: 1

    state = requests.put(f"{fcm.root}/api/faults/global", json={"fault": None, "delay_s": 0.5}, timeout=10).json()
    assert state == {"fault": None, "times": None, "retry_after": None, "delay_s": 0.5}
    started = time.monotonic()
    messaging.send(offer_message("tok-slow"), app=app)
    assert time.monotonic() - started >= 0.5


def test_a_proxys_html_502_and_a_reset_connection_are_faults_too(fcm):
    """What sits in front of FCM can fail too: a load balancer's HTML page, a dropped connection."""
    requests.put(f"{fcm.root}/api/faults/global", json={"fault": "html_502", "times": 1}, timeout=10)
    page = post_raw(fcm, {"token": "tok-p", "data": {"k": "v"}})
    assert page.status_code == 502 and page.headers["Content-Type"].startswith("text/html")
    assert "<html" in page.text and "502" in page.text

    requests.put(f"{fcm.root}/api/faults/global", json={"fault": "reset", "times": 1}, timeout=10)
    with pytest.raises(requests.ConnectionError) as dropped:
        post_raw(fcm, {"token": "tok-p", "data": {"k": "v"}})
    assert "reset" in str(dropped.value).lower()
    assert post_raw(fcm, {"token": "tok-p", "data": {"k": "v"}}).status_code == 200  # times: 1
    assert len(fcm.store.messages("tok-p")) == 1 and fcm.store.attempts("tok-p") == 3


def test_a_cut_answer_delivers_the_message_and_closes_the_connection_halfway_through_the_body(fcm):
    """FCM took the message, then the connection failed before its answer was whole."""
    requests.put(f"{fcm.root}/api/faults/global", json={"fault": "cut", "times": 1}, timeout=10)
    with requests.post(fcm.send_url(), json={"message": {"token": "tok-c", "data": {"k": "v"}}},
                       timeout=10, stream=True) as answer:
        assert answer.status_code == 200
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            answer.content
    assert len(fcm.store.messages("tok-c")) == 1


def test_a_hang_holds_the_request_until_the_fault_is_cleared(fcm):
    import threading

    requests.put(f"{fcm.root}/api/faults/global", json={"fault": "hang"}, timeout=10)
    answers = []
    thread = threading.Thread(target=lambda: answers.append(post_raw(fcm, {"token": "tok-h", "data": {"k": "v"}})))
    thread.start()
    time.sleep(0.5)
    assert answers == []  # still waiting
    requests.delete(f"{fcm.root}/api/faults/global", timeout=10)
    thread.join(10)
    assert [a.status_code for a in answers] == [503] and fcm.store.messages() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fault": "flood"}, "fault"),
        ({"fault": "quota", "times": 0}, "times"),
        ({"fault": "quota", "retry_after": -1}, "retry_after"),
        ({"fault": "quota", "retry_after": "soon"}, "retry_after"),
        ({"fault": None, "delay_s": -1}, "delay_s"),
        ({"fault": None, "delay_s": "3"}, "delay_s"),
        ({"fault": "quota", "token": "t"}, "token"),
    ],
)
def test_the_global_fault_api_refuses_what_it_cannot_honour(fcm, body, field):
    response = requests.put(f"{fcm.root}/api/faults/global", json=body, timeout=10)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]
    assert fcm.store.global_fault() == {"fault": None, "times": None, "retry_after": None, "delay_s": 0.0}


# -- validation, as FCM does it ---------------------------------------------------------------


def test_a_non_string_data_value_is_refused_with_fcms_error_body(fcm):
    response = post_raw(fcm, {"token": "tok-jo", "data": {"offer_id": "of_1", "price_cents": 150}})

    assert single_violation(response)["field"] == "message.data"
    assert fcm.store.messages() == [] and fcm.store.attempts("tok-jo") == 1


def test_the_payload_may_be_4096_bytes_and_not_one_more(fcm, app):
    messaging.send(messaging.Message(token="tok-kim", data={"k": "é" * 2047 + "x"}), app=app)  # 1 + 4095 bytes

    with pytest.raises(exceptions.InvalidArgumentError) as raised:
        messaging.send(messaging.Message(token="tok-kim", data={"k": "é" * 2048}), app=app)  # 1 + 4096 bytes
    assert single_violation(raised.value.http_response)["field"] == "message"
    with pytest.raises(exceptions.InvalidArgumentError):
        messaging.send(
            messaging.Message(token="tok-kim", data={"k": "x" * 4000}, notification=messaging.Notification(title="t" * 100)),
            app=app,
        )
    assert len(fcm.store.messages("tok-kim")) == 1


@pytest.mark.parametrize("ttl", ["3600", "10m", "1h", "-5s", "1.0000000001s", "2419201s", " 5s", "5s\n", 3600])
def test_a_bad_ttl_is_refused(fcm, ttl):
    response = post_raw(fcm, {"token": "tok-leo", "android": {"ttl": ttl}})

    assert single_violation(response)["field"] == "message.android.ttl"


@pytest.mark.parametrize("ttl", ["0s", "1.5s", "3600s", "0.000000001s", "2419200s"])
def test_ttls_in_fcms_duration_format_up_to_28_days_are_accepted(fcm, ttl):
    assert post_raw(fcm, {"token": "tok-leo", "android": {"ttl": ttl}}).status_code == 200


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"token": "a", "topic": "b"}, "message"),
        ({"token": "a", "condition": "'b' in topics"}, "message"),
        ({"data": {"k": "v"}}, "message"),
        ({"token": ""}, "message.token"),
        ({"topic": "not a topic!"}, "message.topic"),
        ({"token": "a", "priority": "high"}, "message"),
        ({"token": "a", "data": {"from": "x"}}, "message.data"),
        ({"token": "a", "data": {"message_type": "x"}}, "message.data"),
        ({"token": "a", "data": {"notification": "x"}}, "message.data"),
        ({"token": "a", "data": {"google.sent_time": "1"}}, "message.data"),
        ({"token": "a", "data": {"gcm.n.e": "1"}}, "message.data"),
        ({"token": "a", "data": ["k", "v"]}, "message.data"),
        ({"token": "a", "android": {"collapse_key": 42}}, "message.android.collapse_key"),
        ({"token": "a", "android": {"time_to_live": "5s"}}, "message.android"),
        ({"token": "a", "android": {"priority": "urgent"}}, "message.android.priority"),
        ({"token": "a", "apns": {"headers": {"apns-priority": 10}}}, "message.apns.headers"),
        ({"token": "a", "apns": {"headers": {"apns-expiration": "2026-11-22T18:30:00Z"}}}, "message.apns.headers"),
        ({"token": "a", "apns": {"headers": {"apns-collapse-id": "x" * 65}}}, "message.apns.headers"),
        ({"token": "a", "notification": {"title": 5}}, "message.notification.title"),
    ],
)
def test_messages_fcm_would_refuse_are_refused(fcm, message, field):
    response = post_raw(fcm, message)

    assert single_violation(response)["field"] == field
    assert fcm.store.messages() == []


def test_two_targets_are_refused_whatever_the_client(fcm):
    response = post_raw(fcm, {"token": "tok-mo", "topic": "deals", "data": {"k": "v"}})

    violation = single_violation(response)
    assert violation["field"] == "message"
    assert "token, topic" in violation["description"]
    assert "exactly one" in response.json()["error"]["message"].lower()


def test_an_apns_expiration_that_is_not_unix_time_reaches_firebase_admin_as_invalid_argument(fcm, app):
    with pytest.raises(exceptions.InvalidArgumentError) as raised:
        messaging.send(
            messaging.Message(token="tok-ned", apns=messaging.APNSConfig(headers={"apns-expiration": "tomorrow"})),
            app=app,
        )

    assert single_violation(raised.value.http_response)["field"] == "message.apns.headers"


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[]", json.dumps({"message": {"token": "a"}, "dry_run": True}).encode(), b'{"message": "a"}',
     json.dumps({"message": {"token": "a"}, "validate_only": "yes"}).encode()],
)
def test_a_malformed_request_body_is_invalid_argument(fcm, raw):
    response = requests.post(fcm.send_url(), data=raw, headers={"Content-Type": "application/json"}, timeout=10)

    single_violation(response)


# -- tokens are personal data -------------------------------------------------------------------


def test_tokens_never_reach_the_logs(fcm, app, caplog):
    # The emulator's own loggers; the test's HTTP client (urllib3) logs the URLs it fetches itself.
    caplog.set_level(logging.INFO, logger="werkzeug")
    caplog.set_level(logging.DEBUG, logger="dealsvc")
    secret = "tok-zoe-c0ffee"
    messaging.send(offer_message(secret), app=app)
    for prefix in ("unregistered-", "invalid-", "mismatch-"):
        with pytest.raises(exceptions.FirebaseError):
            messaging.send(offer_message(prefix + secret), app=app)
    post_raw(fcm, {"token": secret, "data": {"k": 1}})
    requests.get(f"{fcm.root}/api/messages", params={"token": secret}, timeout=10)
    requests.post(f"{fcm.root}/api/faults", json={"token": secret, "fault": "quota"}, timeout=10)

    # The server thread logs after answering; wait until the last request's log line is in.
    deadline = time.monotonic() + 5
    while "/api/faults" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "/emulator/api/messages?" in caplog.text  # the access log was captured, query and all redacted
    assert "c0ffee" not in caplog.text


# -- standalone ---------------------------------------------------------------------------------


def test_python_m_dealsvc_emulator_serves_firebase_admin(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "dealsvc.emulator", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        root = f"http://127.0.0.1:{port}/emulator"
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{root}/api/tokens", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the emulator did not start"
            time.sleep(0.05)

        standalone = RunningEmulator(store=EmulatorStore(), root=root)  # the store lives in the other process
        with firebase_app_for(standalone) as firebase_app:
            name = messaging.send(offer_message("tok-solo"), app=firebase_app)
        items = requests.get(f"{root}/api/messages", params={"token": "tok-solo"}, timeout=5).json()["items"]
        assert [item["name"] for item in items] == [name]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/emulator/fcm" in output
    assert "tok-solo" not in output
