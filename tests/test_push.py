"""The firebase-admin gateway: the internals it relies on, and one push per message over HTTP."""
from __future__ import annotations

import requests
from firebase_admin import messaging

from dealsvc.adapters.push import SENT, FirebasePushGateway, PushMessage, fcm_send_url
from tests.fakes.fcm_emulator import PROJECT_ID, running_emulator


def _message(token: str) -> PushMessage:
    return PushMessage(
        token=token, data={"offer_id": "off_1"}, collapse_key="offer-off_1", ttl_s=600,
        expires_at_unix=2_000_000_000, title="-50 % Bread at Forno", body="€1.00 instead of €2.00",
    )


def test_the_firebase_admin_internals_the_gateway_needs_are_still_there():
    # If an upgrade of firebase-admin moves these, the gateway would silently send to Google
    # or keep firebase-admin's sleeping retries: fail here instead.
    assert messaging._MessagingService.FCM_URL == "https://fcm.googleapis.com/v1/projects/{0}/messages:send"
    with running_emulator() as emulator:
        gateway = FirebasePushGateway(project_id=PROJECT_ID, endpoint=emulator.fcm_base)
        try:
            service = gateway._service
            assert service._fcm_url == fcm_send_url(emulator.fcm_base, PROJECT_ID)
            assert isinstance(service._client.session, requests.Session)
            adapter = service._client.session.get_adapter(service._fcm_url)
            assert adapter.max_retries.status == 0 and adapter.max_retries.read == 0
        finally:
            gateway.close()


def test_a_429_is_answered_at_once_not_slept_through():
    with running_emulator() as emulator:
        emulator.store.set_fault("quota-x", "quota", retry_after=30)
        gateway = FirebasePushGateway(project_id=PROJECT_ID, endpoint=emulator.fcm_base)
        try:
            results = gateway.send([_message("quota-x"), _message("tok-ok")])
        finally:
            gateway.close()
    assert results[0].outcome == "retry" and results[0].retry_after_s == 30
    assert results[1].outcome == SENT
    assert emulator.store.attempts("quota-x") == 1
