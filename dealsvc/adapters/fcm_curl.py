"""The push gateway with libcurl (pycurl) as its HTTP transport: HTTP/2 multiplexing over TLS,
hundreds of pushes in flight from one thread.

firebase-admin stays the FCM client: its credential (and google-auth's token, refreshed ahead
of expiry in the background: fcm_token.py), its `Message` model, validation and encoding, and its
mapping of FCM's answers to exceptions, which `push.classify` turns into outcomes exactly as for
`FirebasePushGateway`: an answer is handed to firebase-admin's own error handler as the
requests error it would have seen. Only the bytes go another way: requests/urllib3 and a thread
per push in flight cost about 580 µs of CPU a push; this about 60 (DESIGN.md "Facts measured
since", bench/transport.py).

One thread drives one CurlMulti; callers of `send` (the dispatcher's lanes) hand it their
messages and wait for their batch. To real FCM (https) requests share a few HTTP/2 connections
(PIPEWAIT: a new request waits for a stream on an open connection rather than opening another);
libcurl stops using a connection that was told GOAWAY or failed, and a connection older than
`connection_max_age_s` takes no new requests, so that the load moves between FCM's front ends.
To a plain http:// endpoint (the emulator) it speaks HTTP/1.1 over up to 32 connections (the
emulator has no HTTP/2 without TLS). A 2xx counts as accepted even if its body then fails to
arrive, as through firebase-admin's own path; if libcurl itself fails under the driver, what was
in flight comes back RETRY, what was about to go UNSENT, and the driver starts over on new
connections.
"""
from __future__ import annotations

import collections
import io
import logging
import math
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import certifi
import firebase_admin
import orjson
import google.auth.exceptions
import pycurl
import requests
import requests.structures
import requests.utils
from firebase_admin import _http_client, exceptions, messaging

from .fcm_token import AccessToken
from .push import (
    ACCEPTED_WITHOUT_NAME,
    ACCEPTED_WITHOUT_NAME_RESULT,
    AUTH_FAILED,
    DEAD_LETTER,
    RETRY,
    SENT,
    UNSENT,
    PushMessage,
    PushResult,
    SendGate,
    classify,
    firebase_messaging,
    sign_in_failure,
    to_fcm,
    trusted_certificates,
)

log = logging.getLogger(__name__)

# libcurl's errors that mean the connection failed (refused, reset, GOAWAY, TLS, nothing
# answered): requests would have raised its ConnectionError. 92 is CURLE_HTTP2_STREAM, which
# this pycurl does not name.
_CONNECTION_ERRORS = frozenset({
    pycurl.E_COULDNT_CONNECT, pycurl.E_COULDNT_RESOLVE_HOST, pycurl.E_COULDNT_RESOLVE_PROXY,
    pycurl.E_SEND_ERROR, pycurl.E_RECV_ERROR, pycurl.E_GOT_NOTHING, pycurl.E_PARTIAL_FILE,
    pycurl.E_SSL_CONNECT_ERROR, pycurl.E_HTTP2, 92,
    pycurl.E_PEER_FAILED_VERIFICATION,  # requests' SSLError is a ConnectionError too
})
_TIMEOUT_ERRORS = frozenset({pycurl.E_OPERATION_TIMEDOUT})
# Plain http:// is the emulator's (HTTP/1.1): at most this many connections, so in flight.
_PLAIN_HTTP_CONNECTIONS = 32
# Google's front ends take 100 streams at once on one HTTP/2 connection.
_STREAMS_PER_CONNECTION = 100


class _Batch:
    """One caller's messages: its results fill in as answers arrive; `done` when all have."""

    __slots__ = ("results", "left", "gate", "done")

    def __init__(self, size: int, gate: SendGate | None):
        self.results: list[PushResult | None] = [None] * size
        self.left = size
        self.gate = gate
        self.done = threading.Event()
        if not size:
            self.done.set()


@dataclass
class _Job:
    batch: _Batch
    index: int
    body: bytes | None  # None: `refused` is its result, without a request
    headers: list[str] | None = None
    refused: PushResult | None = None


@dataclass
class CurlPushGateway:
    """`PushGateway` over libcurl: see the module's docstring. `concurrency` is how many
    requests are in flight at once (shared by every caller). Real FCM answers in about 30 ms:
    512 let one process send 8,585–9,380 pushes/s to a stand-in answering that late, 256 about
    6,000 (bench/fanout.py, docs/benchmarks.md), at the same CPU a push."""

    project_id: str
    credentials_path: str | None = None
    endpoint: str | None = None
    timeout_s: float = 10.0
    concurrency: int = 512
    connection_max_age_s: int = 300
    ca_bundle: str | None = None  # None: as requests chooses (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, certifi)
    _app: firebase_admin.App = field(init=False, repr=False)
    _service: messaging._MessagingService = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._app, self._service = firebase_messaging(
            self.project_id, self.credentials_path, self.endpoint, self.timeout_s
        )
        self._url = self._service._fcm_url
        self._token = AccessToken(self._app.credential.get_credential(), timeout_s=self.timeout_s)
        # The headers firebase-admin's own requests carry (it reads them from the same places).
        self._fixed_headers = [
            *(f"{k}: {v}" for k, v in self._service._fcm_headers.items()),
            *(f"{k}: {v}" for k, v in _http_client.METRICS_HEADERS.items()),
            "Content-Type: application/json",
            "Expect:",  # no 100-continue round trip before a body
        ]
        self._plain = urlsplit(self._url).scheme == "http"
        # The proxy variables, read once as the requests gateway does (libcurl alone would
        # ignore HTTP_PROXY in capitals, and read them on every request).
        proxies = requests.utils.get_environ_proxies(self._url)
        self._proxy = proxies.get(urlsplit(self._url).scheme) or proxies.get("all") or ""
        # The certificates to trust, as requests chooses them: its environment variables first.
        self._ca = self.ca_bundle or trusted_certificates() or certifi.where()
        self._limit = max(int(self.concurrency), 1)
        if self._plain:
            # Over HTTP/1.1 each request in flight is a connection (and a thread of the emulator's).
            self._limit = min(self._limit, _PLAIN_HTTP_CONNECTIONS)
        self._multi = self._new_multi()
        self._handles: list[pycurl.Curl] = []
        # The driver's own: the requests on the wire, the handles free for the next ones, and the
        # jobs taken from the queue but not started yet.
        self._in_flight: dict[pycurl.Curl, _Job] = {}
        self._idle: list[pycurl.Curl] = []
        self._taken: collections.deque[_Job] = collections.deque()
        self._lock = threading.Lock()
        self._queue: collections.deque[_Job] = collections.deque()
        self._closed = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        # Started by the first send: a process that never sends (a web worker) runs no driver.
        self._driver = threading.Thread(target=self._drive, name="fcm-curl", daemon=True)
        self._driving = False

    # -- the callers' side -----------------------------------------------------------------

    def send(self, messages: list[PushMessage], gate: SendGate | None = None) -> list[PushResult]:
        batch = _Batch(len(messages), gate)
        try:
            headers = [*self._fixed_headers, *(f"{k}: {v}" for k, v in self._token.headers().items())]
        except google.auth.exceptions.GoogleAuthError as error:
            # No access token: every message of the batch meets it (as with firebase-admin's
            # requests, which ask for the token before each message).
            jobs = [_Job(batch, i, None, refused=sign_in_failure(error)) for i in range(len(messages))]
        else:
            jobs = [self._job(batch, i, message, headers) for i, message in enumerate(messages)]
        with self._lock:
            if self._closed:
                return [PushResult(UNSENT, error="gateway_closed")] * len(messages)
            self._queue.extend(jobs)
            if not self._driving:
                self._driver.start()
                self._driving = True
        self._wake()
        while not batch.done.wait(1.0):
            if not self._driver.is_alive():  # it never stops but when closed; if it did anyway
                for job in jobs:
                    if batch.results[job.index] is None:
                        batch.results[job.index] = PushResult(RETRY, error="transport_stopped")
                break
        results = batch.results
        unconfirmed = sum(1 for r in results if r.error == ACCEPTED_WITHOUT_NAME)
        if unconfirmed:
            log.warning("FCM accepted %d pushes without naming them (a 2xx without \"name\"): recorded as sent", unconfirmed)
        return results  # type: ignore[return-value]

    def _job(self, batch: _Batch, index: int, message: PushMessage, headers: list[str]) -> _Job:
        try:
            # firebase-admin's own validation and encoding, and its request body, written by
            # orjson: the same JSON as json.dumps' but UTF-8 rather than \u escapes, in a third of
            # the time (about 3 µs a push instead of 10; bench/push_parts.py).
            body = orjson.dumps(self._service._message_data(to_fcm(message), False))
        except (ValueError, TypeError) as error:  # orjson's JSONEncodeError is a TypeError
            # firebase-admin refused to build or encode the message: it would fail again.
            log.warning("push refused before it was sent: %s", type(error).__name__)
            return _Job(batch, index, None, refused=PushResult(DEAD_LETTER, error=type(error).__name__))
        return _Job(batch, index, body, headers)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already awake (the socket is full of wake-ups), or closed

    def close(self) -> None:
        """Once every caller of send() has returned (sends after this come back UNSENT)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            driving = self._driving
        self._wake()
        if driving:
            self._driver.join()
        for handle in self._handles:
            handle.close()
        self._multi.close()
        self._wake_r.close()
        self._wake_w.close()
        firebase_admin.delete_app(self._app)

    # -- the driver thread -----------------------------------------------------------------

    def _new_multi(self) -> pycurl.CurlMulti:
        multi = pycurl.CurlMulti()
        multi.setopt(pycurl.M_PIPELINING, pycurl.PIPE_MULTIPLEX)
        if self._plain:
            multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, self._limit)
        else:
            multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, math.ceil(self._limit / _STREAMS_PER_CONNECTION) + 1)
            multi.setopt(pycurl.M_MAX_CONCURRENT_STREAMS, _STREAMS_PER_CONNECTION)
        multi.setopt(pycurl.M_MAXCONNECTS, self._limit + 4)
        return multi

    def _drive(self) -> None:
        """The driver thread: runs until closed, whatever libcurl raises (every caller waits on
        it). After a surprise, what was on the wire is answered RETRY (the outbox sends it
        again), what was about to go UNSENT (never tried), and the driver starts over on new
        connections."""
        while True:
            try:
                self._drive_until_closed()
                return
            except Exception as error:  # noqa: BLE001 - see the docstring
                log.exception("the push transport failed; the pushes in flight will be retried")
                try:
                    self._start_over(type(error).__name__)
                except Exception:  # noqa: BLE001 - tried again at the next turn
                    log.exception("the push transport could not start over yet")
                time.sleep(0.1)  # a failure that repeats does not spin

    def _start_over(self, error: str) -> None:
        tried = list(self._in_flight.values())
        on_the_wire = {id(job) for job in tried}
        untried = [job for job in self._taken if id(job) not in on_the_wire]  # a job is answered once
        self._in_flight.clear()
        self._taken.clear()
        for handle in self._handles:
            try:
                handle.close()  # also takes it out of its multi
            except Exception:  # noqa: BLE001 - a handle that will not close is dropped anyway
                pass
        self._handles.clear()
        self._idle.clear()
        try:
            self._multi.close()
        except Exception:  # noqa: BLE001 - as above
            pass
        for job in tried:
            self._answered(job, PushResult(RETRY, error=error))
        for job in untried:
            self._finish(job, PushResult(UNSENT, error="transport_failed"))
        self._multi = self._new_multi()

    def _drive_until_closed(self) -> None:
        multi = self._multi
        in_flight, taken = self._in_flight, self._taken
        while True:
            with self._lock:
                closed = self._closed
                while self._queue and len(in_flight) + len(taken) < self._limit:
                    taken.append(self._queue.popleft())
            while taken:
                self._start(taken[0], closed)
                taken.popleft()
            if closed and not in_flight:
                with self._lock:
                    leftover = list(self._queue)
                    self._queue.clear()
                for job in leftover:
                    self._finish(job, PushResult(UNSENT, error="gateway_closed"))
                return
            while True:
                status, _running = multi.perform()
                if status != pycurl.E_CALL_MULTI_PERFORM:
                    break
            while True:
                _queued, ok, failed = multi.info_read()
                for handle in ok:
                    self._done(handle, None, "")
                for handle, code, text in failed:
                    self._done(handle, code, text)
                if not _queued:
                    break
            with self._lock:
                more = bool(self._queue) and len(in_flight) < self._limit
            if more:
                continue
            self._wait(in_flight)

    def _wait(self, in_flight: dict) -> None:
        """Until a socket libcurl watches is ready, its next timer, or a caller's wake-up."""
        readers, writers, errors = self._multi.fdset()
        timeout_ms = self._multi.timeout()
        if not in_flight:
            timeout = 1.0
        elif timeout_ms < 0:
            timeout = 0.05
        else:
            timeout = min(timeout_ms / 1000, 1.0 if readers or writers else 0.01)
        try:
            select.select([*readers, self._wake_r], writers, errors, timeout)
        except (OSError, ValueError):
            time.sleep(0.001)
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _start(self, job: _Job, closed: bool) -> None:
        gate = job.batch.gate
        if closed:
            self._finish(job, PushResult(UNSENT, error="gateway_closed"))
            return
        if gate is not None and not self._may_send(gate):
            self._finish(job, PushResult(UNSENT, error="held"))
            return
        if job.body is None:
            self._answered(job, job.refused)
            return
        handle = self._idle.pop() if self._idle else self._new_handle()
        handle.body.seek(0)
        handle.body.truncate()
        handle.head.seek(0)
        handle.head.truncate()
        if handle.headers != job.headers:
            # The same from batch to batch but when the access token changes: set again only then
            # (libcurl copies the list each time, about 3.5 µs a push).
            handle.setopt(pycurl.HTTPHEADER, job.headers)
            handle.headers = job.headers
        handle.setopt(pycurl.POSTFIELDS, job.body)
        self._in_flight[handle] = job
        self._multi.add_handle(handle)

    def _new_handle(self) -> pycurl.Curl:
        handle = pycurl.Curl()
        handle.body = io.BytesIO()
        handle.head = io.BytesIO()
        handle.headers = None  # the request headers last set on it
        handle.setopt(pycurl.URL, self._url)
        handle.setopt(pycurl.POST, 1)
        handle.setopt(pycurl.WRITEDATA, handle.body)
        handle.setopt(pycurl.WRITEHEADER, handle.head)
        handle.setopt(pycurl.TIMEOUT_MS, int(self.timeout_s * 1000))
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, int(self.timeout_s * 1000))
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.PROXY, self._proxy)
        handle.setopt(pycurl.CAINFO, self._ca)  # not the wheel's own guess
        handle.setopt(pycurl.MAXLIFETIME_CONN, self.connection_max_age_s)
        if self._plain:
            handle.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        else:
            handle.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_2TLS)
            handle.setopt(pycurl.PIPEWAIT, 1)
        self._handles.append(handle)
        return handle

    def _done(self, handle, code: int | None, text: str) -> None:
        self._multi.remove_handle(handle)
        job = self._in_flight.pop(handle)
        try:
            result = self._result(handle, code, text)
        except Exception as error:  # noqa: BLE001 - a surprise in one answer stays that message's
            log.warning("push failed unexpectedly, to be retried: %s", type(error).__name__)
            result = PushResult(RETRY, error=type(error).__name__)
        self._idle.append(handle)
        self._answered(job, result)

    def _result(self, handle, code: int | None, text: str) -> PushResult:
        status = handle.getinfo(pycurl.RESPONSE_CODE)
        if 200 <= status < 300:
            # FCM took the message, even when its body then failed to arrive whole (a timeout or
            # a dropped connection after the status): sending it again would show it twice.
            try:
                return PushResult(SENT, message_id=orjson.loads(handle.body.getvalue())["name"])
            except (ValueError, KeyError, TypeError):
                return ACCEPTED_WITHOUT_NAME_RESULT
        if code is not None:
            if code in _TIMEOUT_ERRORS:
                error: requests.RequestException = requests.exceptions.Timeout(text)
            elif code in _CONNECTION_ERRORS:
                error = requests.exceptions.ConnectionError(text)
            else:
                error = requests.exceptions.RequestException(f"libcurl error {code}: {text}")
        else:
            error = requests.exceptions.HTTPError(f"{status} answer from FCM", response=self._response(status, handle))
        failure = self._service._handle_fcm_error(error)
        result = classify(failure)
        if result.outcome == AUTH_FAILED and isinstance(failure, exceptions.UnauthenticatedError):
            self._token.invalidate()
        return result

    def _response(self, status: int, handle) -> requests.Response:
        """The answer as the requests.Response firebase-admin's error handler reads."""
        response = requests.Response()
        response.status_code = status
        response._content = handle.body.getvalue()
        response.url = self._url
        response.encoding = "utf-8"
        headers = requests.structures.CaseInsensitiveDict()
        for line in handle.head.getvalue().decode("latin-1").split("\r\n"):
            if line.startswith("HTTP/"):
                headers.clear()  # a later block (after a 100 Continue) is the answer's
            name, colon, value = line.partition(":")
            if colon and name:
                headers[name.strip()] = value.strip()
        response.headers = headers
        return response

    def _answered(self, job: _Job, result: PushResult) -> None:
        gate = job.batch.gate
        if gate is not None:
            try:
                gate.answered(result)
            except Exception:  # noqa: BLE001 - the driver serves every caller: it must not stop
                log.exception("a send gate failed on an answer")
        self._finish(job, result)

    @staticmethod
    def _may_send(gate: SendGate) -> bool:
        try:
            return gate.may_send()
        except Exception:  # noqa: BLE001 - as above; the message stays unsent
            log.exception("a send gate failed before a send")
            return False

    @staticmethod
    def _finish(job: _Job, result: PushResult) -> None:
        batch = job.batch
        batch.results[job.index] = result
        batch.left -= 1
        if not batch.left:
            batch.done.set()
