"""Rate limits on sign-ups and reservations, shared by every process through Redis; body size limits."""
from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import socket
import threading
import time

import pytest
import redis
import requests

from config import Settings, SettingsError
from config.testing import test_redis_url as configured_redis_url  # not collected as a test
from dealsvc.app import create_app
from tests.support.concurrency import all_at_once
from tests.support.rate_limits import OFF, REDIS_URL, RedisKeys, limited, redis_keys  # noqa: F401 (fixtures among them)
from tests.support.processes import free_port

PROBLEM_JSON = "application/problem+json"


def _subscriber_body() -> dict:
    return {"fcm_token": "tok-" + secrets.token_hex(8), "lat": 45.4650, "lon": 9.1900}


def _merchant_body() -> dict:
    return {"name": "Forno Rossi", "email": f"{secrets.token_hex(4)}@shop.example"}


def _sign_up(client, address: str = "127.0.0.1", **headers):
    return client.post("/api/v1/subscribers", json=_subscriber_body(), headers=headers, environ_base={"REMOTE_ADDR": address})


def _assert_rate_limited(response, window_s: int = 60) -> None:
    assert response.status_code == 429, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json(force=True)
    assert body["status"] == 429 and body["title"] == "Too many requests"
    assert body["type"].endswith("/too-many-requests") and "Retry in" in body["detail"]
    assert 1 <= int(response.headers["Retry-After"]) <= window_s


# --- one process -----------------------------------------------------------------------------


def test_the_sign_up_past_the_limit_is_a_429_problem_with_retry_after(limited, redis_keys):
    client = limited(subscribers="3/minute")

    answers = [_sign_up(client) for _ in range(3)]
    assert [r.status_code for r in answers] == [201, 201, 201]
    assert all("Retry-After" not in r.headers for r in answers)
    refused = _sign_up(client)
    _assert_rate_limited(refused)
    # Counted before the body is even read: a malformed sign-up is refused the same way.
    _assert_rate_limited(client.post("/api/v1/subscribers", data="not json", content_type="application/json"))


def test_merchant_sign_ups_are_limited_per_address_and_apart_from_subscribers(limited):
    client = limited(merchants="2/minute", subscribers="2/minute")
    here = {"REMOTE_ADDR": "192.0.2.10"}

    assert [client.post("/api/v1/merchants", json=_merchant_body(), environ_base=here).status_code for _ in range(2)] == [201, 201]
    _assert_rate_limited(client.post("/api/v1/merchants", json=_merchant_body(), environ_base=here))
    # Another route's allowance is its own, and another address has all of its own.
    assert _sign_up(client, "192.0.2.10").status_code == 201
    assert client.post("/api/v1/merchants", json=_merchant_body(), environ_base={"REMOTE_ADDR": "192.0.2.11"}).status_code == 201


def test_clients_at_other_addresses_are_not_affected(limited):
    client = limited(subscribers="2/minute")
    assert [_sign_up(client, "198.51.100.1").status_code for _ in range(3)] == [201, 201, 429]

    assert [_sign_up(client, "198.51.100.2").status_code for _ in range(2)] == [201, 201]
    # IPv6 counts by /64: another address in the same /64 is the same client, another /64 is not.
    assert [_sign_up(client, "2001:db8:1:2::1").status_code for _ in range(2)] == [201, 201]
    _assert_rate_limited(_sign_up(client, "2001:db8:1:2::ffff"))
    assert _sign_up(client, "2001:db8:1:3::1").status_code == 201


def _offer_and_residents(client, residents: int = 2) -> tuple[str, list[str]]:
    key = client.post("/api/v1/merchants", json=_merchant_body()).get_json()["api_key"]
    auth = {"Authorization": f"Bearer {key}"}
    shop = client.post("/api/v1/shops", json={"name": "Forno", "category": "bakery", "lat": 45.4642, "lon": 9.19}, headers=auth).get_json()
    from tests.support.api import Api

    body = Api(client).offer_body(shop["id"], quantity=50)
    offer = client.post("/api/v1/offers", json=body, headers=auth)
    assert offer.status_code == 201, offer.get_json()
    secrets_ = [client.post("/api/v1/subscribers", json=_subscriber_body()).get_json()["secret"] for _ in range(residents)]
    return offer.get_json()["id"], secrets_


def test_reservations_are_limited_per_subscriber_not_per_address(limited):
    client = limited(reservations="3/minute")
    offer_id, (alice, bob) = _offer_and_residents(client)

    def reserve(secret: str):
        return client.post(
            f"/api/v1/offers/{offer_id}/reservations", json={"quantity": 1}, headers={"Authorization": f"Bearer {secret}"}
        )

    assert [reserve(alice).status_code for _ in range(3)] == [201, 201, 201]
    _assert_rate_limited(reserve(alice))
    # Bob calls from the same address (a shop's wifi, a carrier's NAT) with his own allowance.
    assert [reserve(bob).status_code for _ in range(3)] == [201, 201, 201]
    _assert_rate_limited(reserve(bob))


def test_reservation_calls_without_valid_credentials_count_against_the_address(limited):
    client = limited(reservations="3/minute")
    offer_id, (alice,) = _offer_and_residents(client, residents=1)

    def reserve(secret: str, address: str):
        return client.post(
            f"/api/v1/offers/{offer_id}/reservations", json={"quantity": 1},
            headers={"Authorization": f"Bearer {secret}"}, environ_base={"REMOTE_ADDR": address},
        )

    # A fresh made-up secret each time does not buy a fresh allowance.
    assert [reserve("dss_" + secrets.token_hex(16), "203.0.113.5").status_code for _ in range(3)] == [401, 401, 401]
    _assert_rate_limited(reserve("dss_" + secrets.token_hex(16), "203.0.113.5"))
    # A real subscriber at that address is counted as herself.
    assert reserve(alice, "203.0.113.5").status_code == 201


def test_forwarded_for_counts_only_behind_trusted_proxies(limited):
    direct = limited(subscribers="2/minute")
    spoofed = [_sign_up(direct, "192.0.2.50", **{"X-Forwarded-For": f"10.9.9.{i}"}).status_code for i in range(3)]
    assert spoofed == [201, 201, 429]  # a client writing X-Forwarded-For gains nothing

    behind_proxy = limited(subscribers="2/minute", trusted_proxies=1)
    # The proxy appends the address it saw; whatever the client wrote before it is ignored.
    def via_proxy(client_address: str, written_by_client: str = ""):
        forwarded = f"{written_by_client}, {client_address}" if written_by_client else client_address
        return _sign_up(behind_proxy, "10.0.0.2", **{"X-Forwarded-For": forwarded})

    assert [via_proxy("198.51.100.7", f"10.1.1.{i}").status_code for i in range(3)] == [201, 201, 429]
    assert [via_proxy("198.51.100.8").status_code for _ in range(2)] == [201, 201]


def test_two_processes_sharing_a_redis_share_the_allowance(limited, redis_keys):
    """Two apps in this process standing for two server processes: same Redis, same prefix."""
    prefix = redis_keys.new()
    first, second = limited(subscribers="3/minute", prefix=prefix), limited(subscribers="3/minute", prefix=prefix)

    assert [_sign_up(c).status_code for c in (first, second, first)] == [201, 201, 201]
    _assert_rate_limited(_sign_up(second))
    assert redis_keys.keys(prefix), "the counts are in Redis"


# --- Redis down ------------------------------------------------------------------------------


def test_without_redis_the_limits_hold_per_process_and_nothing_fails(limited, caplog):
    """The decision: an unreachable Redis never turns a request into an error; each process
    goes on counting the same limits in its own memory, and says so in its log."""
    caplog.set_level(logging.INFO)
    client = limited(subscribers="2/minute", redis_url=f"redis://127.0.0.1:{free_port()}/0")

    started = time.monotonic()
    answers = [_sign_up(client) for _ in range(3)]
    assert [r.status_code for r in answers] == [201, 201, 429]
    _assert_rate_limited(answers[2])
    assert time.monotonic() - started < 10
    assert "falling back to in-memory storage" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


class RedisRelay:
    """A TCP relay in front of the test Redis that can be cut and restored on the same port:
    Redis going away under a running app, and coming back."""

    def __init__(self, target_url: str):
        target = redis.connection.parse_url(target_url)
        self.target = (target.get("host", "127.0.0.1"), target.get("port", 6379))
        self.db = target.get("db", 0)
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.db}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                downstream, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [downstream, upstream]
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self._listener is not None:
            try:  # wakes the thread blocked in accept(), which close() alone does not
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def test_redis_going_away_and_coming_back(limited, redis_keys, caplog):
    caplog.set_level(logging.INFO)
    relay = RedisRelay(REDIS_URL)
    relay.start()
    try:
        prefix = redis_keys.new()
        client = limited(subscribers="4/minute", redis_url=relay.url, prefix=prefix)
        assert [_sign_up(client).status_code for _ in range(2)] == [201, 201]
        assert redis_keys.keys(prefix)

        relay.stop()
        # Counted in this process's memory from here on, from zero: never an error.
        assert [_sign_up(client).status_code for _ in range(5)] == [201, 201, 201, 201, 429]
        assert "falling back to in-memory storage" in caplog.text

        relay.start()
        deadline = time.monotonic() + 60
        while "storage recovered" not in caplog.text:  # asked again after 1, 2, 4 … s
            assert time.monotonic() < deadline, caplog.text
            assert _sign_up(client, f"192.0.2.{secrets.randbelow(250) + 1}").status_code in (201, 429)
            time.sleep(0.5)
        # Back on the shared counts, where this address has used 2 of its 4.
        assert [_sign_up(client).status_code for _ in range(3)] == [201, 201, 429]
    finally:
        relay.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


# --- several processes: gunicorn, 4 workers ----------------------------------------------------

LIMIT = 4
BURST = 16  # as many as the server's 4 processes x 4 threads take at once


# One gunicorn per database and way of counting for the module's tests (tests/support/gunicorn.py).
# Counting in Redis, each test starts from no counts: its `redis_keys` deletes the server's keys
# when it ends. Counting in memory, the tests that share a server use limits apart: the sign-ups'
# (counts left in the processes) and the merchants' (generous), for bodies over the size limit.
ONE_SERVER_PER_MODULE = True


@pytest.fixture(scope="module")
def _key_prefixes() -> dict[str, str]:
    """The Redis key prefix of the module's server on each database."""
    return {}


@pytest.fixture
def multiworker_env(request, database_url, _key_prefixes) -> dict[str, str]:
    """Tight limits and a small body limit for the gunicorn of `multiworker_server`; its
    counts in Redis under a prefix of its own ("redis", the default) or in each process's
    memory ("memory")."""
    env = {
        "DEALSVC_RATE_LIMIT_SUBSCRIBERS": f"{LIMIT}/minute",
        "DEALSVC_RATE_LIMIT_RESERVATIONS": f"{LIMIT}/minute",
        "DEALSVC_MAX_REQUEST_BYTES": "2048",
    }
    if getattr(request, "param", "redis") == "redis":
        redis_keys = request.getfixturevalue("redis_keys")
        if database_url not in _key_prefixes:
            _key_prefixes[database_url] = redis_keys.new()
        elif _key_prefixes[database_url] not in redis_keys.prefixes:
            redis_keys.prefixes.append(_key_prefixes[database_url])  # its keys deleted after this test too
        assert not redis_keys.keys(_key_prefixes[database_url]), "counts left by an earlier test"
        env.update(DEALSVC_REDIS_URL=REDIS_URL, DEALSVC_RATE_LIMIT_KEY_PREFIX=_key_prefixes[database_url])
    return env


def _post(url: str, body: dict, secret: str | None = None) -> requests.Response:
    """On a fresh connection, so that any of the server's processes may answer."""
    headers = {"Connection": "close", **({"Authorization": f"Bearer {secret}"} if secret else {})}
    return requests.post(url, json=body, headers=headers, timeout=60)


def _burst(url: str, bodies: list[dict], secret: str | None = None) -> list[requests.Response]:
    """All at once (released by a barrier), each on its own connection: this spreads them over
    the server's processes, where calls one after another may all find the same one."""
    answers = all_at_once([lambda body=body: _post(url, body, secret) for body in bodies], timeout_s=30)
    failures = [a for a in answers if not isinstance(a, requests.Response)]
    assert not failures, failures[:3]
    return answers


def _assert_live_rate_limited(response: requests.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["Content-Type"] == PROBLEM_JSON
    assert response.json()["status"] == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60


@pytest.mark.parametrize("multiworker_env", ["redis", "memory"], indirect=True)
def test_sign_ups_are_limited_across_processes(multiworker_server, multiworker_env):
    url = multiworker_server.url + "/api/v1/subscribers"
    one_by_one = [_post(url, _subscriber_body()) for _ in range(LIMIT + 1)]
    at_once = [r for _ in range(3) for r in _burst(url, [_subscriber_body() for _ in range(BURST)])]
    statuses = [r.status_code for r in one_by_one + at_once]
    assert set(statuses) <= {201, 429}, [r.text for r in one_by_one + at_once if r.status_code not in (201, 429)]

    if "DEALSVC_REDIS_URL" in multiworker_env:
        assert [r.status_code for r in one_by_one] == [201] * LIMIT + [429], [r.text for r in one_by_one]
        _assert_live_rate_limited(one_by_one[LIMIT])
        assert statuses.count(201) == LIMIT  # of 53 calls, whichever processes answered them
        for r in at_once:
            _assert_live_rate_limited(r)
    else:
        # The control: the same calls, each process counting alone in its memory, let more
        # through, which shows they do reach several processes (and why production sets
        # DEALSVC_REDIS_URL). On a busy machine one process may accept a whole burst, so a few
        # more bursts are allowed before that counts as a failure.
        for _ in range(30):
            if statuses.count(201) > LIMIT:
                break
            time.sleep(0.1)  # let another process's accept loop come round
            statuses += [r.status_code for r in _burst(url, [_subscriber_body() for _ in range(BURST)])]
        assert statuses.count(201) > LIMIT, statuses


@pytest.mark.parametrize("multiworker_env", ["redis"], indirect=True)
def test_reservations_are_limited_per_subscriber_across_processes(api, multiworker_server):
    key = api.merchant()["api_key"]
    offer = api.offer(key, api.shop(key)["id"], quantity=100)
    alice, bob = api.subscriber()["secret"], api.subscriber()["secret"]
    url = f"{multiworker_server.url}/api/v1/offers/{offer['id']}/reservations"
    api.rules(max_active_holds=LIMIT)  # the rate limit, not the operator's rule, is under test

    one_by_one = [_post(url, {"quantity": 1}, alice) for _ in range(LIMIT + 1)]
    assert [r.status_code for r in one_by_one] == [201] * LIMIT + [429], [r.text for r in one_by_one]
    _assert_live_rate_limited(one_by_one[LIMIT])
    for r in _burst(url, [{"quantity": 1}] * BURST, alice):
        _assert_live_rate_limited(r)
    # Bob, from the same address, has his own allowance.
    assert [r.status_code for r in _burst(url, [{"quantity": 1}] * LIMIT, bob)] == [201] * LIMIT


# --- request size ------------------------------------------------------------------------------


def _chunked(body: bytes, size: int = 512):
    return (body[i : i + size] for i in range(0, len(body), size))


def _sized(total: int) -> bytes:
    """A JSON body of exactly `total` bytes."""
    head, tail = b'{"fcm_token": "', b'", "lat": 45.0, "lon": 9.0}'
    return head + b"x" * (total - len(head) - len(tail)) + tail


@pytest.mark.parametrize("multiworker_env", ["memory"], indirect=True)
def test_a_body_over_the_limit_is_a_413_problem_under_gunicorn(multiworker_server):
    """DEALSVC_MAX_REQUEST_BYTES is 2048 here. A body sent with its Content-Length is refused
    before it is read; a chunked one (no length known in advance) once 2048 bytes are read."""
    url = multiworker_server.url + "/api/v1/merchants"
    json_headers = {"Content-Type": "application/json", "Connection": "close"}

    for chunked in (False, True):
        def send(body: bytes, piece: int = 512) -> requests.Response:
            return requests.post(url, data=_chunked(body, piece) if chunked else body, headers=json_headers, timeout=60)

        for size in (2049, 100_000, 5_000_000):
            r = send(_sized(size))
            assert r.status_code == 413, (chunked, size, r.status_code, r.text)
            assert r.headers["Content-Type"] == PROBLEM_JSON
            assert r.json()["status"] == 413 and "2048 bytes" in r.json()["detail"]
        # Up to the limit the body is read whole and judged on what it says (an unknown field here).
        at_limit = send(_sized(2048))
        assert at_limit.status_code == 400 and "fcm_token" in at_limit.json()["errors"], (chunked, at_limit.text)
        assert send(json.dumps(_merchant_body()).encode(), 8).status_code == 201


# --- the document and the settings ---------------------------------------------------------------


def test_the_document_lists_429_with_retry_after_on_the_limited_routes(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    limited = sorted(
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict) and "429" in operation.get("responses", {})
    )
    # The sign-ups and reservations, and every route that checks a bearer secret (too many
    # refused secrets from one address: DEALSVC_RATE_LIMIT_FAILED_AUTH).
    authenticated = sorted(
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict) and operation.get("security")
    )
    assert "GET /api/v1/admin/rules" in authenticated and "POST /api/v1/offers" in authenticated
    assert limited == sorted({"POST /api/v1/merchants", "POST /api/v1/subscribers", *authenticated})
    too_many = spec["components"]["responses"]["TOO_MANY_REQUESTS"]
    assert too_many["headers"]["Retry-After"]["required"] is True
    assert PROBLEM_JSON in too_many["content"]


def test_rate_limit_settings():
    defaults = Settings.from_env({})
    assert (defaults.redis_url, defaults.trusted_proxies) == (None, 0)
    assert (defaults.rate_limit_subscribers, defaults.rate_limit_merchants, defaults.rate_limit_reservations) == (
        "10/minute", "5/minute", "30/minute",
    )
    s = Settings.from_env({
        "DEALSVC_REDIS_URL": "redis://cache:6379/2",
        "DEALSVC_RATE_LIMIT_SUBSCRIBERS": "20/minute;200/day",
        "DEALSVC_RATE_LIMIT_MERCHANTS": "off",
        "DEALSVC_RATE_LIMIT_KEY_PREFIX": "dealsvc-staging",
        "DEALSVC_TRUSTED_PROXIES": "1",
    })
    assert (s.redis_url, s.rate_limit_subscribers, s.rate_limit_merchants, s.rate_limit_key_prefix, s.trusted_proxies) == (
        "redis://cache:6379/2", "20/minute;200/day", None, "dealsvc-staging", 1,
    )
    for name, value in [
        ("RATE_LIMIT_RESERVATIONS", "thirty a minute"),
        ("RATE_LIMIT_SUBSCRIBERS", "10/fortnight"),
        ("REDIS_URL", "cache:6379"),
        ("TRUSTED_PROXIES", "-1"),
    ]:
        with pytest.raises(SettingsError, match=f"DEALSVC_{name}"):
            Settings.from_env({f"DEALSVC_{name}": value})
