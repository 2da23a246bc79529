"""schemathesis against the live service under gunicorn, one server per database: what
tests/e2e/test_schemathesis_*.py share.

Each generated case is sent to every database's server (a copy each: preparing a case points it
at that server's objects), so hypothesis generates the cases once whatever the number of
databases, and every server is held to the same checks. The operations are split by side
(`side`) over two test modules, so that two test processes share the work.
"""
from __future__ import annotations

import copy
import secrets
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, note, settings
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

from tests.support.api import ADMIN_TOKEN
from tests.support.gunicorn import LiveService, gunicorn_service
from tests.support.rules import DEFAULT_RULES


@contextmanager
def live_server(database_url: str, var: Path) -> Iterator[LiveService]:
    """The real service under gunicorn, two workers with their background workers, on the
    database; no traceback may reach its log."""
    # With the dispatcher and the scheduler in each worker, as `make run` has them: what the
    # generated requests set off in the background is held to the same "no traceback".
    with gunicorn_service(database_url, var / "gunicorn.log", {"DEALSVC_WORKERS": "embedded"}, workers=2) as service:
        yield service
    # An unhandled exception is a 500 even when the checks missed it.
    assert "Traceback" not in service.log(), service.log()


def bearer(secret: str) -> dict[str, str]:
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
        return self.http.post(self.url + path, json=body, headers=bearer(secret) if secret else {}, timeout=10)

    def build(self) -> "World":
        r = self.http.put(self.url + "/api/v1/admin/rules", json=DEFAULT_RULES, headers=bearer(ADMIN_TOKEN), timeout=10)
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
        return bearer(secret) if secret and valid_headers else {}

    def new_offer_or_shared(self) -> str:
        # The generated PUT /admin/rules may have made the standard offer break the rules.
        try:
            return self.new_offer()
        except AssertionError:
            return self.offer_id


@dataclass
class Target:
    """One database's live server and the objects built on it."""

    backend: str
    server: LiveService
    world: World


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

# The resident's side of the API (what the app of someone near the shops calls); the merchant's
# side is every other operation, the administration's included.
RESIDENT_PATHS = ("/api/v1/deals", "/api/v1/subscribers", "/api/v1/reservations", "/api/v1/notifications",
                  "/api/v1/offers/{offer_id}/reservations")
SIDES = ("merchant", "resident")


def side(operation) -> str:
    return "resident" if operation.path.startswith(RESIDENT_PATHS) else "merchant"


def served_document(targets: list[Target]):
    """The OpenAPI document the servers serve (the same on every database)."""
    first, *others = targets
    document = requests.get(first.server.url + "/api/v1/openapi.json", timeout=10).json()
    for other in others:
        assert requests.get(other.server.url + "/api/v1/openapi.json", timeout=10).json() == document, other.backend
    return schemathesis.openapi.from_dict(document)


def operations_of_side(targets: list[Target], wanted: str) -> list:
    operations = [result.ok() for result in served_document(targets).get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    assert {side(op) for op in operations} == set(SIDES), [op.label for op in operations]
    return [op for op in operations if side(op) == wanted]


def _copy(case):
    """The case as generated, for one server: a deep copy but for its operation (the parsed
    document, shared). Assigning a Case's fields tracks them as edits (Case.__setattr__), so the
    copy is made field by field, as Case.__init__ does."""
    twin = object.__new__(type(case))
    for name in type(case).__slots__:
        value = getattr(case, name)
        object.__setattr__(twin, name, value if name == "operation" else copy.deepcopy(value))
    return twin


def check_operations(operations: list, targets: list[Target], subtests) -> None:
    """Every operation, with valid and invalid input, on every server: never a 5xx, and every
    answer (status, content type, headers, body) one the document describes."""
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
                    for target in targets:
                        note(f"on {target.backend}")
                        sent = _copy(case)
                        headers = target.world.prepare(sent)
                        sent.call_and_validate(
                            base_url=target.server.url,
                            session=target.world.http,
                            headers=headers,
                            checks=CHECKS,
                            additional_checks=[status_explicitly_documented],
                            timeout=10,
                        )

                exercise()


@contextmanager
def live_targets(database_urls: dict[str, str], tmp_path_factory) -> Iterator[list[Target]]:
    """A live server on each database, with its World."""
    with ExitStack() as stack:
        servers = {backend: stack.enter_context(live_server(url, tmp_path_factory.mktemp(f"live-{backend}")))
                   for backend, url in database_urls.items()}
        yield [Target(backend, server, World(server.url).build()) for backend, server in servers.items()]
