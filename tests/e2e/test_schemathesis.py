"""schemathesis against the live service under gunicorn, from its own OpenAPI document, on each database."""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS_ENV
from tests.support.processes import terminate, wait_until_served
from tests.support.rules import DEFAULT_RULES

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    log: Path


@pytest.fixture(scope="module")
def live_server(database_url, tmp_path_factory):
    """The real service: gunicorn with two workers on the backend under test."""
    port = _free_port()
    var = tmp_path_factory.mktemp("live")
    log = var / "gunicorn.log"
    env = {
        **os.environ,
        "DEALSVC_DATABASE_URL": database_url,
        "DEALSVC_ADMIN_TOKEN": ADMIN_TOKEN,
        "DEALSVC_GEOCODER": "none",
        "DEALSVC_PORT": str(port),
        **GENEROUS_RATE_LIMITS_ENV,
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(GUNICORN), "-w", "2", "-b", f"127.0.0.1:{port}", "--no-control-socket", "--graceful-timeout", "5", "wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_served(proc, url, log.read_text)
        yield LiveServer(url, log)
    finally:
        terminate(proc)
    # An unhandled exception is a 500 even when the checks above missed it.
    assert "Traceback" not in log.read_text(), log.read_text()


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@dataclass
class World:
    """Real objects and their owners' secrets, so generated requests get past 401 and 404."""

    url: str
    http: requests.Session = field(default_factory=requests.Session)
    merchant_key: str = ""
    shop_id: str = ""
    offer_id: str = ""
    subscriber_id: str = ""
    subscriber_secret: str = ""
    moderated_merchant_id: str = ""

    def post(self, path: str, body: dict, secret: str | None = None) -> requests.Response:
        return self.http.post(self.url + path, json=body, headers=_bearer(secret) if secret else {}, timeout=10)

    def build(self) -> "World":
        r = self.http.put(self.url + "/api/v1/admin/rules", json=DEFAULT_RULES, headers=_bearer(ADMIN_TOKEN), timeout=10)
        assert r.status_code == 200, r.text
        merchant = self._created("/api/v1/merchants", {"name": "Forno Rossi", "email": f"{secrets.token_hex(6)}@shop.example"})
        self.merchant_key = merchant["api_key"]
        self.shop_id = self._created(
            "/api/v1/shops", {"name": "Forno Rossi", "category": "bakery", "lat": 45.4642, "lon": 9.19}, self.merchant_key
        )["id"]
        self.offer_id = self.new_offer()
        self.subscriber_id, self.subscriber_secret = self.new_subscriber()
        self.moderated_merchant_id = self._created(
            "/api/v1/merchants", {"name": "Latteria", "email": f"{secrets.token_hex(6)}@shop.example"}
        )["id"]
        return self

    def _created(self, path: str, body: dict, secret: str | None = None) -> dict:
        r = self.post(path, body, secret)
        assert r.status_code == 201, (path, r.status_code, r.text)
        return r.json()

    def new_offer(self) -> str:
        expires = (datetime.now(timezone.utc) + timedelta(hours=3)).isoformat()
        body = {
            "shop_id": self.shop_id, "title": "Pane di ieri", "category": "bakery",
            "original_price_cents": 400, "discount_pct": 50, "quantity": 5, "expires_at": expires,
        }
        return self._created("/api/v1/offers", body, self.merchant_key)["id"]

    def new_subscriber(self) -> tuple[str, str]:
        body = {"fcm_token": "tok-" + secrets.token_hex(8), "lat": 45.465, "lon": 9.19, "radius_m": 800}
        sub = self._created("/api/v1/subscribers", body)
        return sub["id"], sub["secret"]

    def prepare(self, case) -> dict[str, str]:
        """Point the case at real objects (unless that part was generated invalid on purpose) and
        return the credentials of whoever may call the operation."""
        path, method = case.path, case.method.upper()
        meta = case.meta
        valid_path = meta is None or not meta.is_negative_at(ParameterLocation.PATH)
        valid_query = meta is None or not meta.is_negative_at(ParameterLocation.QUERY)
        valid_body = meta is None or not meta.is_negative_at(ParameterLocation.BODY)
        # Invalid headers here mean a missing or malformed Authorization: leave it so.
        valid_headers = meta is None or not meta.is_negative_at(ParameterLocation.HEADER)

        secret: str | None = None
        if path.startswith("/api/v1/admin/"):
            secret = ADMIN_TOKEN
            if valid_path and "merchant_id" in case.path_parameters:
                case.path_parameters["merchant_id"] = self.moderated_merchant_id
        elif path in ("/api/v1/merchants/me", "/api/v1/shops"):
            secret = self.merchant_key
        if path == "/api/v1/shops/{shop_id}":
            if valid_path:
                case.path_parameters["shop_id"] = self.shop_id
        if path == "/api/v1/offers":
            secret = self.merchant_key
            if method == "GET" and valid_query and "shop_id" in (case.query or {}):
                case.query["shop_id"] = self.shop_id
            if method == "POST" and valid_body and isinstance(case.body, dict) and "shop_id" in case.body:
                case.body["shop_id"] = self.shop_id
        if path == "/api/v1/offers/{offer_id}":
            if method == "PATCH":
                secret = self.merchant_key
                if valid_path:
                    # A fresh offer each time: a PATCH may cancel or sell out the one before.
                    case.path_parameters["offer_id"] = self.new_offer_or_shared()
            elif valid_path:
                case.path_parameters["offer_id"] = self.offer_id
        if path == "/api/v1/offers/{offer_id}/photo":
            secret = self.merchant_key
            if valid_path:
                case.path_parameters["offer_id"] = self.offer_id
        if path == "/api/v1/subscribers/{subscriber_id}":
            sub_id, secret = self.subscriber_id, self.subscriber_secret
            if method == "DELETE":
                sub_id, secret = self.new_subscriber()
            if valid_path:
                case.path_parameters["subscriber_id"] = sub_id
        if path.startswith("/api/v1/subscribers/{subscriber_id}/favorites"):
            secret = self.subscriber_secret
            if valid_path:
                case.path_parameters["subscriber_id"] = self.subscriber_id
                if "shop_id" in case.path_parameters:
                    case.path_parameters["shop_id"] = self.shop_id
            if valid_body and isinstance(case.body, dict) and "shop_id" in case.body:
                case.body["shop_id"] = self.shop_id
        return _bearer(secret) if secret and valid_headers else {}

    def new_offer_or_shared(self) -> str:
        # The generated PUT /admin/rules may have made the standard offer break the rules.
        try:
            return self.new_offer()
        except AssertionError:
            return self.offer_id


@pytest.fixture(scope="module")
def world(live_server) -> World:
    return World(live_server.url).build()


def status_explicitly_documented(ctx, response, case):
    """Stricter than status_code_conformance: the catch-all 'default' response does not count."""
    documented = set(case.operation.definition.raw.get("responses", {})) - {"default"}
    code = str(response.status_code)
    if code not in documented and f"{code[0]}XX" not in documented:
        raise AssertionError(
            f"{case.method} {case.path} answered {code}, which its operation does not list: {sorted(documented)}"
        )


def _can_be_invalid(operation) -> bool:
    """A public route whose only input is a free-form id in its path has no invalid request."""
    raw = operation.definition.raw
    has_query = any(p.get("in") == "query" for p in raw.get("parameters", []))
    return "requestBody" in raw or has_query or bool(raw.get("security"))


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    ignored_auth,
]
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 15}


def test_live_api_conforms_to_its_document(live_server, world, subtests):
    """Every operation of the served document, with valid and invalid input: never a 5xx, and
    every answer (status, content type, headers, body) is one the document describes."""
    schema = schemathesis.openapi.from_url(live_server.url + "/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            if mode is GenerationMode.NEGATIVE and not _can_be_invalid(operation):
                continue
            with subtests.test(operation=operation.label, mode=mode.value):

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=examples,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.generate, Phase.shrink],
                    database=None,
                )
                def exercise(case):
                    headers = world.prepare(case)
                    case.call_and_validate(
                        base_url=live_server.url,
                        session=world.http,
                        headers=headers,
                        checks=CHECKS,
                        additional_checks=[status_explicitly_documented],
                        timeout=10,
                    )

                exercise()


def _in_an_hour() -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()


def test_document_and_service_agree_on_what_is_well_formed(live_server, world):
    """Bodies on the edge of a field's rules: the served document calls a body valid exactly
    when the service does not refuse it as malformed (400)."""
    schema = schemathesis.openapi.from_url(live_server.url + "/api/v1/openapi.json")
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
        r = world.http.request(
            method, live_server.url + path, json=body, headers=_bearer(secret) if secret else {}, timeout=10
        )
        assert r.status_code < 500, (method, path, body, r.status_code, r.text)
        if documented_valid != (r.status_code != 400):
            disagreements.append((method, path, body, "document: " + ("valid" if documented_valid else "invalid"), r.status_code, r.text))
    assert not disagreements, disagreements
