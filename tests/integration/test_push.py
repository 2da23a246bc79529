"""The firebase-admin gateway: the internals it relies on, and one push per message over HTTP."""
from __future__ import annotations

from collections import Counter

import pytest
import requests
from firebase_admin import messaging

from dealsvc.adapters.fcm_curl import CurlPushGateway
from dealsvc.adapters.push import SENT, UNSENT, FirebasePushGateway, PushMessage, fcm_send_url
from tests.fakes.fcm_emulator import PROJECT_ID, running_emulator
from tests.support.http_servers import JsonHandler, serve, url
from tests.support.processes import free_port

# The gateway's two transports (DEALSVC_FCM_TRANSPORT), held to the same tests of its behaviour.
GATEWAYS = [FirebasePushGateway, CurlPushGateway]


@pytest.fixture(params=GATEWAYS, ids=["requests", "curl"])
def gateway_class(request):
    return request.param


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


def test_a_429_is_answered_at_once_not_slept_through(gateway_class):
    with running_emulator() as emulator:
        emulator.store.set_fault("quota-x", "quota", retry_after=30)
        gateway = gateway_class(project_id=PROJECT_ID, endpoint=emulator.fcm_base)
        try:
            results = gateway.send([_message("quota-x"), _message("tok-ok")])
        finally:
            gateway.close()
    assert results[0].outcome == "retry" and results[0].retry_after_s == 30
    assert results[1].outcome == SENT
    assert emulator.store.attempts("quota-x") == 1


class _CountingFcm:
    """An FCM-v1-compatible server (or an HTTP proxy in front of one: it answers absolute URIs
    too) that takes `delay_s` per request and records how many were in flight at once and
    which request lines it saw."""

    def __init__(self, delay_s: float = 0.0, refuse_token: str | None = None):
        import threading

        self.delay_s = delay_s
        self.refuse_token = refuse_token  # answered 401, as FCM answers a revoked access token
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.lines: list[str] = []
        self.auth: list[str | None] = []
        fake = self

        class Handler(JsonHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.read_body()
                with fake.lock:
                    fake.in_flight += 1
                    fake.peak = max(fake.peak, fake.in_flight)
                    fake.lines.append(self.requestline)
                    fake.auth.append(self.headers.get("Authorization"))
                    number = len(fake.lines)
                import time

                time.sleep(fake.delay_s)
                with fake.lock:
                    fake.in_flight -= 1
                body = b'{"name": "projects/p/messages/%d"}' % number
                if fake.refuse_token and self.headers.get("Authorization") == f"Bearer {fake.refuse_token}":
                    body = b'{"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}'
                    self.reply(401, body)
                else:
                    self.reply(200, body)

        self.server = serve(Handler)
        self.url = url(self.server)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_sends_at_most_concurrency_pushes_at_once_and_keeps_the_order_of_results(gateway_class):
    fcm = _CountingFcm(delay_s=0.05)
    gateway = gateway_class(project_id="p", endpoint=fcm.url, concurrency=6)
    try:
        results = gateway.send([_message(f"tok-{i}") for i in range(60)])
    finally:
        gateway.close()
        fcm.close()
    assert [r.outcome for r in results] == [SENT] * 60
    assert len({r.message_id for r in results}) == 60
    # Bounded, and actually concurrent: 60 requests of 50 ms took 6 at a time.
    assert fcm.peak == 6


def test_proxy_settings_of_the_environment_still_apply(monkeypatch, gateway_class):
    # requests no longer reads the environment on every push; the gateway reads it once.
    proxy = _CountingFcm()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    gateway = gateway_class(project_id="p", endpoint="http://fcm.invalid:8080", concurrency=2)
    try:
        results = gateway.send([_message("tok-1")])
    finally:
        gateway.close()
        proxy.close()
    assert results[0].outcome == SENT
    assert proxy.lines == ["POST http://fcm.invalid:8080/v1/projects/p/messages:send HTTP/1.1"]


def _service_account(path, token_uri: str) -> str:
    """A service-account file as Google issues them, with a fresh key and our own token endpoint."""
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_text(json.dumps({
        "type": "service_account", "project_id": PROJECT_ID, "private_key_id": "k1", "private_key": pem.decode(),
        "client_email": f"push@{PROJECT_ID}.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri,
    }))
    return str(path)


def test_a_revoked_key_holds_pushes_and_an_unreachable_token_endpoint_retries_them(tmp_path, gateway_class):
    """google-auth signs in at the service account's token endpoint before any push: a refusal
    there (a revoked or deleted key) is FCM refusing our credentials (pushes held, the breaker
    told); a network failure there is only a retry, never taken for revoked credentials."""

    from dealsvc.adapters.push import AUTH_FAILED, RETRY

    class Refusing(JsonHandler):
        def do_POST(self):
            self.read_body()
            body = b'{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}'
            self.reply(400, body)

    server = serve(Refusing)
    closed_port = free_port()  # nobody listens on it
    cases = {
        AUTH_FAILED: url(server, "/token"),
        RETRY: f"http://127.0.0.1:{closed_port}/token",
    }
    try:
        for expected, token_uri in cases.items():
            path = _service_account(tmp_path / f"{expected}.json", token_uri)
            gateway = gateway_class(project_id=PROJECT_ID, credentials_path=path, timeout_s=5)
            try:
                results = gateway.send([_message("tok-a"), _message("tok-b")])
            finally:
                gateway.close()
            assert [r.outcome for r in results] == [expected, expected], (token_uri, results)
            assert {r.error for r in results} == {"RefreshError" if expected == AUTH_FAILED else "TransportError"}, results
    finally:
        server.shutdown()


def test_the_curl_transport_has_http2_and_the_firebase_admin_internals_it_needs():
    """The pycurl wheel brings its own libcurl with HTTP/2 and TLS (nothing from the system);
    the curl gateway builds each request with firebase-admin's own body, headers and error
    mapping: fail here if an upgrade moves them."""
    import pycurl
    from firebase_admin import _http_client

    info = pycurl.version_info()
    assert info[4] & pycurl.VERSION_HTTP2 and info[4] & pycurl.VERSION_SSL, pycurl.version
    assert "https" in info[8]
    assert callable(messaging._MessagingService._message_data)
    assert callable(messaging._MessagingService._handle_fcm_error)
    assert "x-goog-api-client" in _http_client.METRICS_HEADERS
    fcm = _CountingFcm()
    gateway = CurlPushGateway(project_id="p", endpoint=fcm.url)
    try:
        assert set(gateway._service._fcm_headers) == {"X-GOOG-API-FORMAT-VERSION", "X-FIREBASE-CLIENT"}
        assert gateway.send([_message("tok-1")])[0].outcome == SENT
    finally:
        gateway.close()
        fcm.close()


def test_the_curl_gateway_refreshes_its_token_ahead_of_expiry_in_the_background_not_per_push(tmp_path):
    """One token for many pushes; with less than 5 minutes left, a new one is fetched in the
    background while pushes still go out with the current one (the token endpoint is held
    meanwhile, and sending does not wait for it); then the new one is used."""
    import json
    import threading
    import time

    release = threading.Event()
    asked = threading.Event()
    issued: list[str] = []

    class Tokens(JsonHandler):
        def do_POST(self):
            self.read_body()
            number = len(issued) + 1
            if number == 2:
                asked.set()
                release.wait(30)  # the background refresh, held until the test lets it go
            issued.append(f"tok-{number}")
            # The first token has 2 minutes left (inside the 5 minutes), the others an hour.
            body = json.dumps({"access_token": f"tok-{number}", "expires_in": 120 if number == 1 else 3600,
                               "token_type": "Bearer"}).encode()
            self.reply(200, body)

    server = serve(Tokens)
    fcm = _CountingFcm()
    path = _service_account(tmp_path / "sa.json", url(server, "/token"))
    gateway = CurlPushGateway(project_id=PROJECT_ID, credentials_path=path, endpoint=fcm.url)
    try:
        first = gateway.send([_message(f"a-{i}") for i in range(5)])
        assert issued == ["tok-1"]
        # Less than 5 minutes left: a refresh starts, held at the token endpoint; this batch
        # still goes out, with the current token.
        second = gateway.send([_message(f"b-{i}") for i in range(5)])
        assert issued == ["tok-1"]
        # While the token endpoint holds the refresh, more batches go out, one after the other
        # and from two callers at once (a send waiting on the refresh would not come back).
        assert asked.wait(10), "no background refresh started"
        held: list = []

        def caller(n: int) -> None:
            held.extend(gateway.send([_message(f"h{n}-{i}") for i in range(5)]))
            held.extend(gateway.send([_message(f"i{n}-{i}") for i in range(5)]))

        callers = [threading.Thread(target=caller, args=(n,), daemon=True) for n in range(2)]
        for thread in callers:
            thread.start()
        for thread in callers:
            thread.join(5)
        assert not any(t.is_alive() for t in callers), "a send waited for the token refresh"
        assert len(held) == 20
        second += held
        release.set()
        deadline = time.monotonic() + 10
        while gateway._token._credential.token != "tok-2":
            assert time.monotonic() < deadline, "the background refresh did not finish"
            time.sleep(0.02)
        third = gateway.send([_message(f"c-{i}") for i in range(5)])
        fourth = gateway.send([_message(f"d-{i}") for i in range(5)])
    finally:
        release.set()
        gateway.close()
        fcm.close()
        server.shutdown()
    assert [r.outcome for r in first + second + third + fourth] == [SENT] * 40
    assert fcm.auth == ["Bearer tok-1"] * 30 + ["Bearer tok-2"] * 10
    assert issued == ["tok-1", "tok-2"]  # two tokens for forty pushes


def test_after_fcm_refuses_its_token_the_curl_gateway_fetches_another_before_the_next_batch(tmp_path):
    """A 401 (a token revoked before its time) holds that batch's pushes (AUTH_FAILED, for the
    breaker) and the next batch goes out with a new token, not the refused one again."""
    import json

    issued: list[str] = []

    class Tokens(JsonHandler):
        def do_POST(self):
            self.read_body()
            issued.append(f"tok-{len(issued) + 1}")
            body = json.dumps({"access_token": issued[-1], "expires_in": 3600, "token_type": "Bearer"}).encode()
            self.reply(200, body)

    server = serve(Tokens)
    fcm = _CountingFcm(refuse_token="tok-1")
    path = _service_account(tmp_path / "sa.json", url(server, "/token"))
    gateway = CurlPushGateway(project_id=PROJECT_ID, credentials_path=path, endpoint=fcm.url)
    try:
        refused = gateway.send([_message(f"a-{i}") for i in range(3)])
        accepted = gateway.send([_message(f"b-{i}") for i in range(3)])
    finally:
        gateway.close()
        fcm.close()
        server.shutdown()
    from dealsvc.adapters.push import AUTH_FAILED

    assert [(r.outcome, r.error) for r in refused] == [(AUTH_FAILED, "UnauthenticatedError")] * 3
    assert [r.outcome for r in accepted] == [SENT] * 3
    assert issued == ["tok-1", "tok-2"]
    assert fcm.auth == ["Bearer tok-1"] * 3 + ["Bearer tok-2"] * 3


def _pushes_through_nginx(folder, keepalive_requests: int) -> tuple[list, list[list[str]]]:
    """100 pushes, 8 in flight, through the curl gateway to nginx over TLS; the results and
    nginx's log lines (connection number, protocol)."""
    from bench import NginxFcm

    nginx = NginxFcm(folder, "p", keepalive_requests=keepalive_requests)
    gateway = CurlPushGateway(project_id="p", endpoint=nginx.endpoint, concurrency=8, ca_bundle=str(nginx.ca))
    try:
        results = [r for _ in range(4) for r in gateway.send([_message(f"tok-{i}") for i in range(25)])]
    finally:
        gateway.close()
        nginx.stop()
    return results, [line.split()[:2] for line in (folder / "access.log").read_text().splitlines()]


def test_the_curl_gateway_multiplexes_http2_to_fcm_and_moves_on_when_a_connection_is_closed(tmp_path):
    """Over TLS the curl gateway speaks HTTP/2 and the pushes in flight share one connection; a
    server closing connections (nginx sends GOAWAY after 10 requests on one) costs no push:
    the next go out on a new connection."""
    results, lines = _pushes_through_nginx(tmp_path / "shared", keepalive_requests=1000)
    assert [r.outcome for r in results] == [SENT] * 100
    assert len(lines) == 100 and {protocol for _conn, protocol in lines} == {"HTTP/2.0"}
    assert len({conn for conn, _protocol in lines}) == 1  # 8 in flight, one connection

    results, lines = _pushes_through_nginx(tmp_path / "goaway", keepalive_requests=10)
    connections = {conn for conn, _protocol in lines}
    print(f"\nGOAWAY every 10 requests: {len(lines)} requests over {len(connections)} connections")
    assert [r.outcome for r in results] == [SENT] * 100
    assert len(lines) == 100 and len(connections) >= 10


def test_the_curl_gateway_opens_a_new_connection_once_one_is_older_than_its_max_age(tmp_path):
    """A connection to FCM serves for connection_max_age_s, then the next pushes go on a new one,
    so that the load moves between FCM's front ends."""
    import time

    from bench import NginxFcm

    nginx = NginxFcm(tmp_path, "p")
    gateway = CurlPushGateway(project_id="p", endpoint=nginx.endpoint, concurrency=4, connection_max_age_s=3,
                              ca_bundle=str(nginx.ca))
    try:
        results = gateway.send([_message(f"tok-{i}") for i in range(5)])
        results += gateway.send([_message(f"tok-{i}") for i in range(5)])
        time.sleep(3.5)
        results += gateway.send([_message(f"tok-{i}") for i in range(5)])
    finally:
        gateway.close()
        nginx.stop()
    assert [r.outcome for r in results] == [SENT] * 15
    connections = [line.split()[0] for line in (tmp_path / "access.log").read_text().splitlines()]
    assert len(set(connections[:10])) == 1  # young: the first two batches shared one
    assert set(connections[10:]).isdisjoint(connections[:10])  # too old for the third


def test_the_curl_gateway_keeps_hundreds_of_pushes_in_flight_and_loses_none_to_goaway_in_mid_flight(tmp_path):
    """FCM answers in about 30 ms from a data centre, so 10,000 pushes a second need about 300 in
    flight. Against nginx answering after 1 s, the gateway keeps its 512 in flight over a few
    HTTP/2 connections (as many at once, read off nginx's log: each request's answer time and
    duration); and when nginx closes each connection after 60 requests (a GOAWAY while
    a hundred streams are open on it), every push still arrives, on new connections."""
    from bench import NginxFcm

    def through_nginx(folder, keepalive_requests: int, pushes: int):
        nginx = NginxFcm(folder, "p", delay_ms=1000, keepalive_requests=keepalive_requests)
        gateway = CurlPushGateway(project_id="p", endpoint=nginx.endpoint, ca_bundle=str(nginx.ca))
        try:
            results = gateway.send([_message(f"tok-{i}") for i in range(pushes)])
        finally:
            gateway.close()
            nginx.stop()
        lines = [line.split() for line in (folder / "access.log").read_text().splitlines()]
        return results, lines

    results, lines = through_nginx(tmp_path / "many", 100_000, 700)
    assert [r.outcome for r in results] == [SENT] * 700 and len(lines) == 700
    edges = sorted([(float(at) - float(took), 1) for _c, _p, at, took in lines]
                   + [(float(at), -1) for _c, _p, at, _took in lines])
    at_once = peak = 0
    for _when, step in edges:
        at_once += step
        peak = max(peak, at_once)
    connections = {conn for conn, *_ in lines}
    print(f"\n{peak} requests in flight at once over {len(connections)} HTTP/2 connections")
    # Up to its 512 (nginx logs times to the millisecond: a request that ended as another
    # started may overlap it by one).
    assert 400 <= peak <= 520 and {protocol for _c, protocol, *_ in lines} == {"HTTP/2.0"}
    assert len(connections) >= 5  # 100 streams a connection

    results, lines = through_nginx(tmp_path / "goaway", 60, 512)
    assert [r.outcome for r in results] == [SENT] * 512 and len(lines) == 512  # each once
    per_connection = Counter(conn for conn, *_ in lines)
    assert max(per_connection.values()) == 60 and len(per_connection) >= 512 // 60  # closed at 60 each


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_both_gateways_trust_the_certificates_named_as_requests_names_them(gateway, tmp_path, monkeypatch):
    """REQUESTS_CA_BUNDLE (then CURL_CA_BUNDLE) names the certificates to trust, for both
    gateways alike: a private FCM-compatible endpoint (or a TLS-inspecting proxy's CA) works
    without a code change; without it, its self-signed certificate is refused."""
    from bench import NginxFcm

    nginx = NginxFcm(tmp_path / "nginx", "p")
    try:
        for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
            monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
            untrusted = gateway(project_id="p", endpoint=nginx.endpoint, concurrency=2)
            monkeypatch.setenv(variable, str(nginx.ca))
            trusted = gateway(project_id="p", endpoint=nginx.endpoint, concurrency=2)
            try:
                assert [r.outcome for r in untrusted.send([_message("tok-1")])] != [SENT]
                assert [r.outcome for r in trusted.send([_message("tok-1"), _message("tok-2")])] == [SENT] * 2
            finally:
                untrusted.close()
                trusted.close()
    finally:
        nginx.stop()


def test_the_curl_gateway_gets_over_a_failure_of_its_transport_and_retries_what_was_in_flight():
    """libcurl failing under the driver thread (here: a handle it cannot make, as when memory
    runs out) neither stops the gateway nor leaves a caller waiting: the pushes on the wire come
    back RETRY, those about to go UNSENT (the outbox sends both again), and the next batch goes
    out on new connections."""
    import threading

    import pycurl

    from dealsvc.adapters.push import RETRY

    class Failing(CurlPushGateway):
        failures = 0

        def _new_handle(self):
            if self.failures:
                self.failures -= 1
                raise pycurl.error(pycurl.E_OUT_OF_MEMORY, "out of memory")
            return super()._new_handle()

    fcm = _CountingFcm(delay_s=0.2)
    gateway = Failing(project_id=PROJECT_ID, endpoint=fcm.url)
    try:
        assert [r.outcome for r in gateway.send([_message(f"a-{i}") for i in range(4)])] == [SENT] * 4
        gateway.failures = 1  # four requests go out on the handles there are; the fifth's fails
        answers: list = []
        caller = threading.Thread(target=lambda: answers.extend(gateway.send([_message(f"b-{i}") for i in range(8)])),
                                  daemon=True)
        caller.start()
        caller.join(10)
        assert not caller.is_alive(), "the caller was left waiting"
        # The four on the wire may have reached FCM: tried again later; the others never left.
        assert [(r.outcome, r.error) for r in answers] == [(RETRY, "error")] * 4 + [(UNSENT, "transport_failed")] * 4
        after = gateway.send([_message(f"c-{i}") for i in range(8)])
        assert [r.outcome for r in after] == [SENT] * 8
    finally:
        gateway.close()
        fcm.close()
    assert gateway._driver.is_alive() is False  # closed: the driver ended


def test_the_curl_gateway_runs_its_thread_only_once_it_sends():
    """A process that never sends (a web worker builds the gateway with its container) runs no
    transport thread; the first send starts it, closing ends it, and a gateway closed unused
    closes at once."""
    fcm = _CountingFcm()
    unused = CurlPushGateway(project_id=PROJECT_ID, endpoint=fcm.url)
    gateway = CurlPushGateway(project_id=PROJECT_ID, endpoint=fcm.url)
    try:
        # Each gateway's own thread (other tests' gateways may run theirs in this process).
        assert not gateway._driver.is_alive() and not unused._driver.is_alive()
        unused.close()
        assert [r.outcome for r in gateway.send([_message("tok-1")])] == [SENT]
        assert gateway._driver.is_alive()
    finally:
        gateway.close()
        fcm.close()
    assert not gateway._driver.is_alive() and not unused._driver.is_alive()
    assert [r.outcome for r in unused.send([_message("tok-2")])] == [UNSENT]
