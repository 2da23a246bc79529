"""The two transports of the push gateway give the same outcome for every answer FCM (or what
sits in front of it) can give: firebase-admin's own `messaging.send` over requests, and libcurl
(DEALSVC_FCM_TRANSPORT). Each row of the table is sent through both to the emulator, told to
answer that way once per gateway, and each gateway's PushResult is checked against the row and
against the other's."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests

from dealsvc.adapters.fcm_curl import CurlPushGateway
from dealsvc.adapters.push import (
    ACCEPTED_WITHOUT_NAME, AUTH_FAILED, DEAD_LETTER, DEAD_TOKEN, RETRY, SENT, FirebasePushGateway, PushMessage,
)
from tests.fakes.fcm_emulator import PROJECT_ID, running_emulator
from tests.support.processes import free_port

GATEWAYS = {"requests": FirebasePushGateway, "curl": CurlPushGateway}
TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Row:
    answer: str  # what FCM does
    fault: dict | None  # the emulator's global fault for one answer (None: a normal answer)
    outcome: str
    error: str | None  # the exception classify() saw (or the result's note)
    retry_after_s: float | None = None
    named: bool = False  # a SENT with FCM's message id


TABLE = [
    Row("200", None, SENT, None, named=True),
    Row("200 without name", {"fault": "no_name"}, SENT, ACCEPTED_WITHOUT_NAME),
    Row("400 bad token", {"fault": "invalid"}, DEAD_TOKEN, "InvalidArgumentError"),
    Row("400 bad message", {"fault": "bad_request"}, DEAD_LETTER, "InvalidArgumentError"),
    Row("401", {"fault": "unauthenticated"}, AUTH_FAILED, None),  # see test below for the name
    Row("403 sender mismatch", {"fault": "mismatch"}, DEAD_TOKEN, "SenderIdMismatchError"),
    Row("403 API disabled", {"fault": "permission_denied"}, AUTH_FAILED, "PermissionDeniedError"),
    Row("404 unregistered", {"fault": "unregistered"}, DEAD_TOKEN, "UnregisteredError"),
    Row("429 Retry-After seconds", {"fault": "quota", "retry_after": 30}, RETRY, "QuotaExceededError", 30.0),
    Row("429 Retry-After date", {"fault": "quota", "retry_after": "Thu, 01 Jan 1970 00:00:00 GMT"}, RETRY,
        "QuotaExceededError", 0.0),
    Row("429 without Retry-After", {"fault": "quota_bare"}, RETRY, "QuotaExceededError"),
    Row("500", {"fault": "internal"}, RETRY, "InternalError"),
    Row("503", {"fault": "unavailable"}, RETRY, "UnavailableError"),
    Row("503 Retry-After", {"fault": "unavailable", "retry_after": 7}, RETRY, "UnavailableError", 7.0),
    Row("502 HTML from a proxy", {"fault": "html_502"}, RETRY, "UnknownError"),
    Row("timeout", {"fault": "hang"}, RETRY, "DeadlineExceededError"),
    Row("connection reset", {"fault": "reset"}, RETRY, "UnavailableError"),
    # FCM took it: sent again, the phone would show it twice.
    Row("200, connection closed halfway through the body", {"fault": "cut"}, SENT, ACCEPTED_WITHOUT_NAME),
]


def _message(token: str) -> PushMessage:
    return PushMessage(
        token=token, data={"offer_id": "off_1"}, collapse_key="offer-off_1", ttl_s=600,
        expires_at_unix=2_000_000_000, title="-50 % Bread at Forno", body="€1.00 instead of €2.00",
    )


@pytest.fixture(scope="module")
def emulator():
    with running_emulator() as running:
        yield running


@pytest.fixture(scope="module")
def gateways(emulator):
    built = {name: cls(project_id=PROJECT_ID, endpoint=emulator.fcm_base, timeout_s=TIMEOUT_S, concurrency=4)
             for name, cls in GATEWAYS.items()}
    yield built
    for gateway in built.values():
        gateway.close()


def _global_fault(emulator, body: dict | None) -> None:
    if body is None:
        answer = requests.delete(f"{emulator.root}/api/faults/global", timeout=5)
    else:
        answer = requests.put(f"{emulator.root}/api/faults/global", json={"times": 1, **body}, timeout=5)
    assert answer.status_code in (200, 204), answer.text


@pytest.mark.parametrize("row", TABLE, ids=[r.answer for r in TABLE])
def test_both_gateways_give_the_same_outcome_for_every_answer(emulator, gateways, row):
    seen = {}
    for name, gateway in gateways.items():
        emulator.store.clear()
        _global_fault(emulator, row.fault)
        try:
            [result] = gateway.send([_message(f"tok-{name}")])
        finally:
            _global_fault(emulator, None)  # a hang still holding is let go
        seen[name] = result
        print(f"{row.answer:>26} via {name:<8}: {result}")
        assert result.outcome == row.outcome, (name, result)
        assert (result.message_id is not None) == row.named, (name, result)
        assert result.retry_after_s == row.retry_after_s, (name, result)
        if row.error is not None:
            assert result.error == row.error, (name, result)
        if row.outcome == SENT:
            assert len(emulator.store.messages(f"tok-{name}")) == 1, name  # delivered once
    if row.error is not None:
        assert seen["requests"].error == seen["curl"].error


def test_an_endpoint_nobody_listens_on_is_a_retry_through_both():
    port = free_port()  # nobody listens on it
    for name, cls in GATEWAYS.items():
        gateway = cls(project_id=PROJECT_ID, endpoint=f"http://127.0.0.1:{port}/fcm", timeout_s=TIMEOUT_S)
        try:
            results = gateway.send([_message("tok-a"), _message("tok-b")])
        finally:
            gateway.close()
        assert [(r.outcome, r.error) for r in results] == [(RETRY, "UnavailableError")] * 2, (name, results)


def test_a_401_holds_the_push_through_both_and_the_curl_gateway_asks_for_a_new_token_next(emulator, gateways):
    """firebase-admin's requests answer a 401 by asking google-auth for a new token, which
    anonymous credentials (the emulator's) refuse: InvalidOperation. The curl gateway reports
    the 401 itself and fetches a token before its next send. Either way, FCM refused our
    credentials: held, never spent."""
    errors = {}
    for name, gateway in gateways.items():
        _global_fault(emulator, {"fault": "unauthenticated"})
        try:
            [result] = gateway.send([_message(f"tok-{name}")])
        finally:
            _global_fault(emulator, None)
        assert result.outcome == AUTH_FAILED
        errors[name] = result.error
    assert errors == {"requests": "InvalidOperation", "curl": "UnauthenticatedError"}


@pytest.mark.parametrize(("value", "expected", "in_flight"), [
    (None, CurlPushGateway, 512), ("curl", CurlPushGateway, 512), ("requests", FirebasePushGateway, 32),
    (" Requests ", FirebasePushGateway, 32),
])
def test_dealsvc_fcm_transport_chooses_the_gateway_the_dispatcher_sends_with(value, expected, in_flight):
    from config import Settings
    from dealsvc.bootstrap import make_push_gateway

    env = {"DEALSVC_FCM_ENDPOINT": "https://fcm.example", **({"DEALSVC_FCM_TRANSPORT": value} if value else {})}
    gateway = make_push_gateway(Settings.from_env(env))
    try:
        assert type(gateway) is expected and gateway.concurrency == in_flight
    finally:
        gateway.close()
    gateway = make_push_gateway(Settings.from_env({**env, "DEALSVC_PUSH_CONCURRENCY": "300"}))
    try:
        assert gateway.concurrency == 300
    finally:
        gateway.close()


def test_an_unknown_transport_stops_the_start():
    from config import Settings, SettingsError

    with pytest.raises(SettingsError, match="DEALSVC_FCM_TRANSPORT must be 'curl' or 'requests'"):
        Settings.from_env({"DEALSVC_FCM_TRANSPORT": "httpx"})


def test_both_gateways_deliver_the_same_message_its_words_intact(emulator, gateways):
    """What reaches FCM is the same whichever transport wrote it: every field, and the words
    outside ASCII (the curl gateway writes UTF-8, firebase-admin's requests \\u escapes)."""
    emulator.store.clear()
    delivered = {}
    for name, gateway in gateways.items():
        [result] = gateway.send([_message(f"tok-{name}")])
        assert result.outcome == SENT, (name, result)
        [received] = emulator.store.messages(f"tok-{name}")
        delivered[name] = {k: v for k, v in received.message.items() if k != "token"}
    assert delivered["curl"] == delivered["requests"]
    assert delivered["curl"]["notification"] == {"title": "-50 % Bread at Forno", "body": "€1.00 instead of €2.00"}
