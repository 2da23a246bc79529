"""Sessions that end at sign-out, failed authentications rate
limited, malformed and oversized bodies under gunicorn, text people read, security headers, and
a frozen Redis that costs little."""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from config import Settings, SettingsError
from dealsvc.app import create_app
from tests.support.api import ADMIN_TOKEN
from tests.support.pages import csrf, sign_in_shop
from tests.support.processes import free_port

PROBLEM_JSON = "application/problem+json"
# One gunicorn for the module's tests on each database (tests/support/gunicorn.py): they send it
# malformed or oversized requests, and nothing they do stays in its processes.
ONE_SERVER_PER_MODULE = True
ROOT = Path(__file__).resolve().parents[2]


def _app(container, **changes):
    settings = container.settings.with_(**changes)
    return create_app(container=dataclasses.replace(container, settings=settings))


# --- item 11: signing out ends the session on the server -------------------------------------------


def _sign_in_admin(client):
    token = csrf(client.get("/admin/").text)
    return client.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token})


def _copy_cookie(source, target) -> None:
    cookie = source.get_cookie("dealsvc_session")
    assert cookie is not None
    target.set_cookie("dealsvc_session", cookie.value)


@pytest.mark.parametrize("page", ["shop", "admin"])
def test_a_copied_session_cookie_stops_working_at_sign_out(client, api, page):
    if page == "shop":
        key = api.merchant()["api_key"]
        api.shop(key)
        assert sign_in_shop(client, key).status_code == 303
        signed_in_mark = "Sign out"
    else:
        assert _sign_in_admin(client).status_code == 303
        signed_in_mark = "Sign out"
    home = client.get(f"/{page}/")
    assert signed_in_mark in home.text and "signin" not in home.request.path

    # Someone copies the cookie (a shared computer, a stolen backup); it works like the original.
    thief = client.application.test_client()
    _copy_cookie(client, thief)
    assert signed_in_mark in thief.get(f"/{page}/").text

    r = client.post(f"/{page}/signout", data={"csrf_token": csrf(home.text)})
    assert r.status_code == 303
    # The copy, taken before sign-out and replayed as it was, opens nothing any more.
    after = thief.get(f"/{page}/")
    assert after.status_code == 200
    assert signed_in_mark not in after.text and 'name="secret"' in after.text
    assert 'name="secret"' in client.get(f"/{page}/").text


# --- item 12: failed sign-ins and bearer checks are rate limited ------------------------------------


def test_refused_bearer_secrets_are_rate_limited_per_address_for_every_role(container, api):
    client = _app(container, rate_limit_failed_auth="5/minute").test_client()
    from tests.support.api import Api

    own = Api(client)
    key = own.merchant()["api_key"]
    shop = own.shop(key)
    sub = own.subscriber()
    attacker = {"REMOTE_ADDR": "203.0.113.9"}

    # Every role's routes: the operator's, a merchant's, a subscriber's.
    guesses = [
        ("GET", "/api/v1/admin/rules", "operator-guess-" + secrets.token_hex(16)),
        ("GET", "/api/v1/shops", "dsm_" + secrets.token_hex(16)),
        ("GET", f"/api/v1/subscribers/{sub['id']}", "dss_" + secrets.token_hex(16)),
        ("GET", "/api/v1/admin/rules", "x"),
        ("GET", "/api/v1/shops", "dsm_" + secrets.token_hex(16)),
    ]
    answers = [client.open(path, method=m, headers={"Authorization": f"Bearer {s}"}, environ_base=attacker) for m, path, s in guesses]
    assert [r.status_code for r in answers] == [401] * 5
    started = time.monotonic()
    for m, path, s in guesses:
        r = client.open(path, method=m, headers={"Authorization": f"Bearer {s}"}, environ_base=attacker)
        assert r.status_code == 429, r.text
        assert r.mimetype == PROBLEM_JSON and r.json["status"] == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 60
    print(f"10 guesses: 5 answered 401, 5 refused 429 ({time.monotonic() - started:.3f} s for the refusals)")
    # Even the right secret is refused from that address for now: guessing goes no faster.
    assert client.get("/api/v1/admin/rules", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, environ_base=attacker).status_code == 429

    # Callers whose secrets are good are never counted: 30 calls, all answered.
    here = {"REMOTE_ADDR": "198.51.100.20"}
    calls = [
        client.get("/api/v1/admin/rules", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, environ_base=here),
        client.get("/api/v1/shops", headers={"Authorization": f"Bearer {key}"}, environ_base=here),
        client.get(f"/api/v1/subscribers/{sub['id']}", headers={"Authorization": f"Bearer {sub['secret']}"}, environ_base=here),
    ] * 10
    assert {r.status_code for r in calls} == {200}
    # Calls without credentials guess nothing and are not counted either.
    assert {client.get("/api/v1/shops", environ_base=here).status_code for _ in range(8)} == {401}
    assert client.get(f"/api/v1/shops/{shop['id']}", environ_base=here).status_code == 200


def test_failed_page_sign_ins_are_rate_limited_with_a_page(container, api):
    app = _app(container, rate_limit_failed_auth="3/minute")
    key = api.merchant()["api_key"]
    for page, good in (("shop", key), ("admin", ADMIN_TOKEN)):
        client = app.test_client()
        address = {"REMOTE_ADDR": f"192.0.2.{70 + len(page)}"}
        token = csrf(client.get(f"/{page}/", environ_base=address).text)

        def attempt(secret: str):
            return client.post(f"/{page}/signin", data={"secret": secret, "csrf_token": token}, environ_base=address)

        assert [attempt("wrong-" + secrets.token_hex(8)).status_code for _ in range(3)] == [401, 401, 401]
        refused = attempt("wrong-again")
        assert refused.status_code == 429
        assert refused.mimetype == "text/html" and "Too many failed sign-ins" in refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert attempt(good).status_code == 429  # not even the right one, for now
        # Another address signs in at once.
        other = app.test_client()
        token2 = csrf(other.get(f"/{page}/").text)
        assert other.post(f"/{page}/signin", data={"secret": good, "csrf_token": token2}).status_code == 303


def test_a_weak_admin_token_stops_the_start_with_one_clear_line(tmp_path):
    with pytest.raises(SettingsError, match="DEALSVC_ADMIN_TOKEN is too weak.*at least 32"):
        Settings.from_env({"DEALSVC_ADMIN_TOKEN": "test-operator-token"})
    assert Settings.from_env({"DEALSVC_ADMIN_TOKEN": "t" * 32}).admin_token == "t" * 32
    # The deployment example's lines, copied unchanged, are long enough but known to everyone.
    example = (ROOT / "deploy" / "dealsvc.env.example").read_text()
    for name in ("DEALSVC_ADMIN_TOKEN", "DEALSVC_SECRET_KEY"):
        line = next(line for line in example.splitlines() if line.startswith(f"{name}="))
        with pytest.raises(SettingsError, match=f"{name} is still the example's placeholder"):
            Settings.from_env({name: line.split("=", 1)[1]})
    env = {**os.environ, "DEALSVC_ADMIN_TOKEN": "short-token", "DEALSVC_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    # `make run`, the production web process (gunicorn with its config file) and both workers.
    for command in (
        [sys.executable, "-m", "dealsvc", "run"],
        [gunicorn, "--config", "deploy/gunicorn.conf.py", "wsgi:app"],
        [sys.executable, "-m", "workers.dispatcher"],
        [sys.executable, "-m", "workers.scheduler"],
    ):
        run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode != 0, command
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "DEALSVC_ADMIN_TOKEN is too weak" in lines[0], (command, run.stderr)
        assert "Traceback" not in run.stderr and not Path(tmp_path / "x.db").exists()


# --- item 14: malformed chunked bodies and deep JSON ------------------------------------------------


def _raw(url: str, request: bytes, timeout: float = 10) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def _split(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


MALFORMED_CHUNKED = {
    "chunk_size_zz": b"zz\r\n{}\r\n0\r\n\r\n",
    "bad_trailer": b'2\r\n{}\r\n0\r\nnot a header line\r\n\r\n',
    "chunk_without_terminator": b"2\r\n{}XX0\r\n\r\n",
}


def test_a_malformed_chunked_body_is_a_400_problem_under_gunicorn(multiworker_server):
    for path, auth in (("/api/v1/merchants", ""), ("/api/v1/admin/rules", f"Authorization: Bearer {ADMIN_TOKEN}\r\n")):
        method = "POST" if path.endswith("merchants") else "PUT"
        for name, body in MALFORMED_CHUNKED.items():
            request = (
                f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{auth}"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode() + body
            status, headers, payload = _split(_raw(multiworker_server.url, request))
            assert status == 400, (name, path, status, payload[:300])
            assert headers["content-type"] == PROBLEM_JSON
            problem = json.loads(payload)
            assert problem["status"] == 400 and "body" in problem["errors"], problem
            assert headers["connection"] == "close", (name, headers)
    # (The fixture fails the test if any traceback reached gunicorn's log.)


@pytest.mark.parametrize("depth", [100, 500, 900, 10_000])
def test_deeply_nested_json_is_a_400_problem_on_every_body_route(client, api, depth):
    key = api.merchant()["api_key"]
    shop = api.shop(key)
    offer = api.offer(key, shop["id"])
    sub = api.subscriber()
    routes = [
        ("POST", "/api/v1/merchants", None),
        ("POST", "/api/v1/shops", key),
        ("POST", "/api/v1/offers", key),
        ("PATCH", f"/api/v1/offers/{offer['id']}", key),
        ("POST", "/api/v1/subscribers", None),
        ("PATCH", f"/api/v1/subscribers/{sub['id']}", sub["secret"]),
        ("POST", f"/api/v1/offers/{offer['id']}/reservations", sub["secret"]),
        ("PUT", "/api/v1/admin/rules", ADMIN_TOKEN),
        ("PATCH", f"/api/v1/admin/merchants/{api.merchant()['id']}", ADMIN_TOKEN),
    ]
    for field in ("name", "fcm_token", "quantity"):
        body = '{"%s": %s%s}' % (field, "[" * depth, "]" * depth)
        for method, path, secret in routes:
            headers = {"Authorization": f"Bearer {secret}"} if secret else {}
            r = client.open(path, method=method, data=body, content_type="application/json", headers=headers)
            assert r.status_code == 400, (depth, field, method, path, r.status_code, r.text[:300])
            assert r.mimetype == PROBLEM_JSON and r.json["errors"], r.json


@pytest.mark.parametrize("depth", [150, 900, 10_000])
def test_the_emulator_answers_deep_json_with_fcms_400(client, depth):
    url = "/emulator/fcm/v1/projects/dealsvc-dev/messages:send"
    nested = "[" * depth + "]" * depth
    for body in (nested, '{"message": {"token": "t", "apns": {"payload": {"aps": %s}}}}' % nested):
        r = client.post(url, data=body, content_type="application/json")
        assert r.status_code == 400, (depth, r.status_code, r.text[:300])
        error = r.json["error"]
        assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"


# --- item 15: a 413 closes the connection, and keep-alive clients carry on --------------------------


def test_keep_alive_clients_survive_a_413_under_gunicorn(multiworker_server):
    """20 clients, each on a keep-alive session, send a body over the limit (64 KiB by default)
    and then another request: none fails."""
    url = multiworker_server.url
    big = json.dumps({"name": "x" * 1_000_000, "email": "a@shop.example"}).encode()
    outcomes: list = [None] * 20

    def client(i: int) -> None:
        with requests.Session() as session:
            try:
                first = session.post(url + "/api/v1/merchants", data=big, headers={"Content-Type": "application/json"}, timeout=30)
                second = session.get(url + "/healthz", timeout=30)
                outcomes[i] = (first.status_code, first.headers.get("Connection"), second.status_code)
            except requests.RequestException as exc:
                outcomes[i] = repr(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [o for o in outcomes if o != (413, "close", 200)]
    print(f"20 keep-alive clients: {20 - len(failed)} got 413 with Connection: close and then 200, {len(failed)} failed")
    assert not failed, failed


# --- item 16: text people read, currencies, tokens --------------------------------------------------

BAD_TEXT = {
    "bidi_override": "Pane \u202egnp.exe",
    "bidi_isolate": "Pane \u2066di\u2069 ieri",
    "zero_width_only": "\u200b\u200b",
    "hangul_filler_only": "\u3164",
    "bell": "Pane\x07",
    "c1_control": "Pane\x85ieri",
    "newline_in_a_name": "Pane\ndi ieri",
}


def test_text_people_read_refuses_bidi_controls_invisible_text_and_control_characters(client, api):
    key = api.merchant()["api_key"]
    shop = api.shop(key)
    auth = {"Authorization": f"Bearer {key}"}
    for name, text in BAD_TEXT.items():
        for path, body, field in (
            ("/api/v1/merchants", {"name": text, "email": f"{secrets.token_hex(4)}@shop.example"}, "name"),
            ("/api/v1/shops", {"name": text, "category": "bakery", "lat": 45.46, "lon": 9.19}, "name"),
            ("/api/v1/shops", {"name": "Forno", "category": "bakery", "lat": 45.46, "lon": 9.19, "address": text}, "address"),
            ("/api/v1/offers", api.offer_body(shop["id"], title=text), "title"),
        ):
            r = client.post(path, json=body, headers=auth if path != "/api/v1/merchants" else {})
            assert r.status_code == 400 and field in r.json["errors"], (name, path, r.status_code, r.json)
        if name != "newline_in_a_name":
            r = client.post("/api/v1/offers", json=api.offer_body(shop["id"], description=text), headers=auth)
            assert r.status_code == 400 and "description" in r.json["errors"], (name, r.json)
    # What people do write still goes through: accents, emoji with joiners, a description in lines.
    ok = api.offer(key, shop["id"], title="Caffè & brioche 👨‍👩‍👧", description="Della mattina.\nFino a esaurimento.")
    assert ok["title"] == "Caffè & brioche 👨‍👩‍👧" and ok["description"] == "Della mattina.\nFino a esaurimento."

    for currency in ("ZZZ", "XXX", "EURO", "eur"):
        r = client.post("/api/v1/offers", json=api.offer_body(shop["id"], currency=currency), headers=auth)
        assert r.status_code == 400 and "currency" in r.json["errors"], (currency, r.json)
    assert api.offer(key, shop["id"], currency="CHF")["currency"] == "CHF"

    for token in ("     ", "tok en", "tok\ten", "tok\u200ben", " tok"):
        r = client.post("/api/v1/subscribers", json={"fcm_token": token, "lat": 45.46, "lon": 9.19})
        assert r.status_code == 400 and "fcm_token" in r.json["errors"], (token, r.json)


def test_the_shop_page_refuses_the_same_text(client, api):
    key = api.merchant()["api_key"]
    api.shop(key)
    assert sign_in_shop(client, key).status_code == 303
    page = client.get("/shop/").text
    r = client.post("/shop/shops", data={"csrf_token": csrf(page), "name": "Pane \u202egnp.exe", "category": "bakery",
                                         "lat": "45.46", "lon": "9.19"})
    assert r.status_code == 422
    assert "formatting characters" in r.text
    assert "Pane \u202egnp.exe" not in {s["name"] for s in client.get("/api/v1/shops", headers={"Authorization": f"Bearer {key}"}).json["items"]}


# --- item 17: security headers on every answer ------------------------------------------------------


def _assert_secure_headers(r, what: str) -> None:
    h = r.headers
    assert h.get("X-Content-Type-Options") == "nosniff", what
    assert h.get("X-Frame-Options") == "DENY", what
    assert "frame-ancestors 'none'" in h.get("Content-Security-Policy", ""), what
    assert h.get("Referrer-Policy") in ("same-origin", "no-referrer", "strict-origin-when-cross-origin"), what


def test_every_answer_carries_the_security_headers(client, api):
    key = api.merchant()["api_key"]
    answers = {
        "json": client.get("/api/v1/deals", query_string={"lat": 45.46, "lon": 9.19}),
        "problem": client.get("/api/v1/shops"),
        "not_found_problem": client.get("/api/v1/no-such-thing"),
        "page": client.get("/shop/"),
        "docs": client.get("/api/docs"),
        "openapi": client.get("/api/v1/openapi.json"),
        "docs_asset": client.get("/api/docs/assets/swagger-ui.css"),
        "static": client.get("/assets/web.css"),
        "emulator_page": client.get("/emulator/"),
        "emulator_api": client.get("/emulator/api/tokens"),
        "metrics": client.get("/metrics"),
        "health": client.get("/healthz"),
        "created": client.post("/api/v1/shops", json={"name": "F", "category": "bakery", "lat": 45.0, "lon": 9.0},
                               headers={"Authorization": f"Bearer {key}"}),
    }
    for what, r in answers.items():
        assert r.status_code < 500, (what, r.status_code)
        _assert_secure_headers(r, what)
        assert "Strict-Transport-Security" not in r.headers, what  # plain http here
    # Pages: scripts and styles from this service only; the docs: its one inline script by hash.
    assert "script-src 'self';" in answers["page"].headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in answers["page"].headers["Content-Security-Policy"]
    assert "'sha256-" in answers["docs"].headers["Content-Security-Policy"]
    assert answers["json"].headers["Content-Security-Policy"].startswith("default-src 'none'")

    # HSTS over https: directly, or behind a trusted proxy that says so.
    assert client.get("/healthz", base_url="https://localhost").headers["Strict-Transport-Security"].startswith("max-age=")
    proxied = _app(client.application.extensions["dealsvc"], trusted_proxies=1).test_client()
    assert "Strict-Transport-Security" in proxied.get("/healthz", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.1"}).headers
    assert "Strict-Transport-Security" not in client.get("/healthz", headers={"X-Forwarded-Proto": "https"}).headers


def test_the_pages_503_says_when_to_retry(tmp_path):
    """The console while its database cannot answer (here: a table gone from its SQLite file)."""
    from dealsvc.bootstrap import bootstrap

    settings = Settings(database_url=f"sqlite:///{tmp_path}/pages.db", admin_token=ADMIN_TOKEN, var_dir=tmp_path, geocoder="none")
    container = bootstrap(settings)
    try:
        client = create_app(container=container).test_client()
        assert _sign_in_admin(client).status_code == 303
        with container.db.write() as s:
            from sqlalchemy import text

            s.execute(text("DROP TABLE operator_rules"))
        r = client.get("/admin/")
        assert r.status_code == 503 and r.mimetype == "text/html"
        assert int(r.headers["Retry-After"]) >= 1
        _assert_secure_headers(r, "503 page")
    finally:
        container.close()


# --- item 18: a frozen Redis costs at most 0.5 s -----------------------------------------------------


class SilentListener:
    """Accepts TCP connections and never answers: a Redis that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def frozen_redis(request, tmp_path):
    """A Redis that stops answering: a real redis-server, SIGSTOP'd, or a silent TCP listener."""
    if request.param == "listener":
        listener = SilentListener()
        yield f"redis://127.0.0.1:{listener.port}/0"
        listener.close()
        return
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port, socket_timeout=1).ping()
                break
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        os.kill(proc.pid, signal.SIGSTOP)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("frozen_redis", ["sigstop", "listener"], indirect=True)
def test_a_frozen_redis_costs_the_first_limited_call_at_most_half_a_second(container, frozen_redis):
    app = _app(container, redis_url=frozen_redis, rate_limit_subscribers="3/minute",
               rate_limit_key_prefix="dealsvc-test-" + secrets.token_hex(4))
    client = app.test_client()
    timings, statuses = [], []
    for _ in range(4):
        body = {"fcm_token": "tok-" + secrets.token_hex(8), "lat": 45.465, "lon": 9.19}
        started = time.monotonic()
        statuses.append(client.post("/api/v1/subscribers", json=body).status_code)
        timings.append(time.monotonic() - started)
    print("sign-ups with Redis frozen: " + ", ".join(f"{t:.3f} s" for t in timings), statuses)
    assert statuses == [201, 201, 201, 429]  # counted in memory once Redis is given up
    assert timings[0] <= 0.5, timings
    assert max(timings[1:]) < 0.25, timings
