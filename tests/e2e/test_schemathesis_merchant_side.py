"""schemathesis against the live service under gunicorn, from its own OpenAPI document, on each
database: the merchant's side of the API and the administration (tests/support/schemathesis_live.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.support.api import ADMIN_TOKEN
from tests.support.databases import BACKENDS
from tests.support.rules import DEFAULT_RULES
from tests.support.schemathesis_live import bearer, check_operations, live_targets, operations_of_side, served_document


@pytest.fixture(scope="module")
def targets(database_urls, tmp_path_factory):
    with live_targets(database_urls, tmp_path_factory) as targets:
        yield targets


def test_live_api_conforms_to_its_document(targets, subtests):
    """Every operation of the merchant's side of the served document, with valid and invalid input,
    on each database: never a 5xx, and every answer (status, content type, headers, body) is one
    the document describes."""
    check_operations(operations_of_side(targets, "merchant"), targets, subtests)


def _in_an_hour() -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()


@pytest.mark.parametrize("backend", BACKENDS)
def test_document_and_service_agree_on_what_is_well_formed(targets, backend):
    """Bodies on the edge of a field's rules: the served document calls a body valid exactly
    when the service does not refuse it as malformed (400)."""
    target = next(target for target in targets if target.backend == backend)
    world, url = target.world, target.server.url
    schema = served_document([target])
    quiet = {"start": "22:00", "end": "07:00"}
    subscriber = {"fcm_token": "tok-edge", "lat": 45.46, "lon": 9.19}
    place = {"label": "work", "lat": 45.47, "lon": 9.2, "days": ["mon", "fri"], "hours": quiet}
    offer = {
        "shop_id": world.shop_id, "title": "Focaccia", "category": "bakery",
        "original_price_cents": 500, "quantity": 2, "expires_at": _in_an_hour(),
    }
    cases = [
        ("POST", "/api/v1/merchants", None, {"name": "x" * 200, "email": "edge-a@shop.example"}),
        ("POST", "/api/v1/merchants", None, {"name": "\t" + "x" * 200, "email": "edge-b@shop.example"}),
        ("POST", "/api/v1/subscribers", None, {**subscriber, "quiet_hours": quiet}),
        ("POST", "/api/v1/subscribers", None, {**subscriber, "quiet_hours": None}),
        ("POST", "/api/v1/subscribers", None, {**subscriber, "quiet_hours": {**quiet, "snooze": True}}),
        ("POST", "/api/v1/subscribers", None, {**subscriber, "quiet_hours": {"start": "22:00"}}),
        ("POST", "/api/v1/subscribers", None, {**subscriber, "quiet_hours": {}}),
        ("POST", "/api/v1/subscribers", None, {**subscriber, "places": [place, {**place, "hours": None}]}),
        ("POST", "/api/v1/subscribers", None, {**subscriber, "places": [place] * 3}),
        ("POST", "/api/v1/subscribers", None, {**subscriber, "places": [{**place, "days": ["mon", "mon"]}]}),
        ("POST", "/api/v1/subscribers", None, {**subscriber, "places": [{**place, "days": []}]}),
        ("POST", "/api/v1/subscribers", None, {**subscriber, "places": [{**place, "hours": {**quiet, "x": 1}}]}),
        ("POST", "/api/v1/subscribers", None, {**subscriber, "places": [{**place, "label": "x" * 33}]}),
        ("POST", "/api/v1/subscribers", None, {**subscriber, "price_drops": True}),
        ("POST", "/api/v1/subscribers", None, {**subscriber, "price_drops": None}),
        ("POST", "/api/v1/offers", world.merchant_key, {**offer, "discount_pct": 50}),
        ("POST", "/api/v1/offers", world.merchant_key, {**offer, "discount_pct": 0}),
        ("POST", "/api/v1/offers", world.merchant_key, {**offer, "discount_pct": 100}),
        ("POST", "/api/v1/offers", world.merchant_key, {**offer, "discount_pct": 100.5}),
        ("POST", "/api/v1/offers", world.merchant_key, {**offer, "price_cents": 0}),
        ("PUT", "/api/v1/admin/rules", ADMIN_TOKEN, {"max_discount_pct": 99.5}),
        ("PUT", "/api/v1/admin/rules", ADMIN_TOKEN, {"max_discount_pct": 100}),
        ("PUT", "/api/v1/admin/rules", ADMIN_TOKEN, {"min_discount_pct": 0}),
        ("PUT", "/api/v1/admin/rules", ADMIN_TOKEN, DEFAULT_RULES),
    ]
    disagreements = []
    for method, path, secret, body in cases:
        documented_valid = schema[path][method].body[0].is_valid(body)
        r = world.http.request(method, url + path, json=body, headers=bearer(secret) if secret else {}, timeout=10)
        assert r.status_code < 500, (method, path, body, r.status_code, r.text)
        if documented_valid != (r.status_code != 400):
            disagreements.append((method, path, body, "document: " + ("valid" if documented_valid else "invalid"), r.status_code, r.text))
    assert not disagreements, disagreements
