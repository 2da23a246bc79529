"""What a client may send: bodies up to max_request_bytes (413), well-formed (400), calls to the
public sign-ups and to reservations within their rate limits, and few failed sign-ins and bearer
checks (429), counted in Redis so that every process shares them."""
from __future__ import annotations

import ipaddress
import logging
import math
import time
from typing import Callable

import flask
from flask import Flask, Response, request
from flask_limiter import Limiter, RequestLimit
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

from config import Settings

from ..domain.errors import DomainError
from ..domain.i18n import Text
from .common import bearer, caller, errors
from .problems import Blueprint, problem

log = logging.getLogger(__name__)

SUBSCRIBERS, MERCHANTS, RESERVATIONS = "subscribers", "merchants", "reservations"
# Failed bearer checks on the API and failed sign-ins on the pages, one allowance per address.
FAILED_AUTH = "failed-auth"
_LIMIT = "_dealsvc_rate_limit"
_SIGN_IN = "_dealsvc_sign_in"
_LIMIT_PAGE = "_dealsvc_rate_limit_page"
# Redis is asked on the request's path: an unreachable or frozen one must cost at most 0.5 s
# before the in-memory counts take over (README). One attempt, no retry: a connect and a read
# of at most 0.2 s each (redis-py's first command on a new connection is CLIENT SETINFO, so a
# frozen Redis that accepts connections costs one read timeout; a retry doubled it to 1.0 s).
_REDIS_TIMEOUT_S = 0.2


def rate_limited(blp: Blueprint, name: str):
    """Count calls to this route against the rate limit `name` (set per app from the settings,
    checked before the route authenticates or parses anything) and document the 429."""

    def decorator(fn):
        fn = errors(blp, 429)(fn)
        setattr(fn, _LIMIT, name)
        return fn

    return decorator


def rate_limited_page(name: str):
    """Count a page's form against the rate limit `name`, in the same allowance as the API route
    limited by that name (a sign-up from the page or from the API draws on one budget); past it,
    a page that says so (web/__init__.py registers how it is drawn)."""

    def decorator(fn):
        setattr(fn, _LIMIT_PAGE, name)
        return fn

    return decorator


def sign_in_page(fn):
    """Mark a page's sign-in view: its failed attempts (a 401 answer) count against FAILED_AUTH."""
    setattr(fn, _SIGN_IN, True)
    return fn


def client_address() -> str:
    """The caller's address (from X-Forwarded-For only through DEALSVC_TRUSTED_PROXIES). An
    IPv6 caller counts by its /64: one line or host usually has all of it."""
    address = request.remote_addr or "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"address:{address}"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return f"address:{ip.ipv4_mapped}"
        return f"address:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"address:{ip}"


def subscriber_or_address() -> str:
    """Reservations count per subscriber, so residents behind one address (a shop's wifi, a
    carrier's NAT) do not share a budget; a call without valid credentials counts against its address."""
    if bearer() is not None:
        try:
            principal = caller()
        except (DomainError, SQLAlchemyError):
            # The route's own authentication answers this call a moment later (401, or 503).
            pass
        else:
            return f"{principal.role}:{principal.id or principal.role}"
    return client_address()


_KEYS: dict[str, Callable[[], str]] = {
    SUBSCRIBERS: client_address,
    MERCHANTS: client_address,
    RESERVATIONS: subscriber_or_address,
}


def _limit_of(settings: Settings, name: str) -> str | None:
    return {
        SUBSCRIBERS: settings.rate_limit_subscribers,
        MERCHANTS: settings.rate_limit_merchants,
        RESERVATIONS: settings.rate_limit_reservations,
        FAILED_AUTH: settings.rate_limit_failed_auth,
    }[name]


def _retry_after(breach: RequestLimit) -> int:
    try:
        wait = breach.window.reset_time - time.time()
    except Exception:  # the storage failed after counting: the whole window is a safe answer
        wait = breach.limit.get_expiry()
    return max(1, math.ceil(wait))


def _over_limit(breach: RequestLimit, detail: Text) -> Response:
    retry_after = _retry_after(breach)
    return problem(
        429,
        detail.format(limit=str(breach.limit), seconds=retry_after),
        headers={"Retry-After": str(retry_after)},
    )


def _too_many(breach: RequestLimit) -> Response:
    return _over_limit(breach, Text("Too many requests from this client: at most {limit}. Retry in {seconds} s."))


def _too_many_failures(breach: RequestLimit) -> Response:
    return _over_limit(
        breach, Text("Too many failed authentications from this client: at most {limit}. Retry in {seconds} s.")
    )


def _too_many_sign_ins(breach: RequestLimit) -> Response:
    """The page that says so (web/__init__.py registers how it is drawn), not problem+json."""
    retry_after = _retry_after(breach)
    response = flask.current_app.extensions["dealsvc-page-too-many"](retry_after)
    response.headers["Retry-After"] = str(retry_after)
    return response


def _too_many_page(breach: RequestLimit) -> Response:
    retry_after = _retry_after(breach)
    response = flask.current_app.extensions["dealsvc-page-rate-limited"](retry_after)
    response.headers["Retry-After"] = str(retry_after)
    return response


def _credential_sent() -> bool:
    return bearer() is not None


def _refused(response: Response) -> bool:
    return response.status_code == 401


def _storage(settings: Settings) -> tuple[str, dict]:
    if not settings.redis_url:
        return "memory://", {}
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return settings.redis_url, {
        "key_prefix": settings.rate_limit_key_prefix,
        "socket_connect_timeout": _REDIS_TIMEOUT_S,
        "socket_timeout": _REDIS_TIMEOUT_S,
        "retry": Retry(NoBackoff(), 0),
    }


def install_rate_limits(app: Flask, settings: Settings) -> Limiter | None:
    """Wrap every route marked with `rate_limited` in its flask-limiter limit, and every API
    route and page sign-in in the limit of failed authentications.

    With Redis, all processes share the counts. When Redis stops answering, each process goes
    on counting the same limits in its own memory (flask-limiter's in-memory fallback: a
    client may then get up to one allowance per process), logs a warning, and asks Redis
    again after 1, 2, 4 … 32 s until it answers, then counts there again. Redis being down
    never turns a request into an error (a 429 then comes from the process's own counts)."""
    marked = {
        endpoint: getattr(view, _LIMIT)
        for endpoint, view in app.view_functions.items()
        if hasattr(view, _LIMIT) and _limit_of(settings, getattr(view, _LIMIT))
    }
    failed_auth = settings.rate_limit_failed_auth
    # Every route that checks a bearer secret, and the pages' sign-ins.
    api_views = sorted({r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/")}) if failed_auth else []
    sign_ins = [e for e, view in app.view_functions.items() if getattr(view, _SIGN_IN, False)] if failed_auth else []
    pages = {
        endpoint: getattr(view, _LIMIT_PAGE)
        for endpoint, view in app.view_functions.items()
        if hasattr(view, _LIMIT_PAGE) and _limit_of(settings, getattr(view, _LIMIT_PAGE))
    }
    if not marked and not pages and not api_views and not sign_ins:
        return None
    storage_uri, storage_options = _storage(settings)
    limiter = Limiter(
        key_func=client_address,
        storage_uri=storage_uri,
        storage_options=storage_options,
        # Exact counts over the last window (no double allowance across a window's edge), and
        # an exact Retry-After.
        strategy="moving-window",
        in_memory_fallback_enabled=bool(settings.redis_url),
        # Anything else the storage raises lets the request through (logged), never a 500.
        swallow_errors=True,
        on_breach=_too_many,
    )
    limiter.init_app(app)
    for endpoint, name in marked.items():
        limit = limiter.shared_limit(_limit_of(settings, name), scope=name, key_func=_KEYS[name])
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])
    for endpoint, name in pages.items():
        limit = limiter.shared_limit(_limit_of(settings, name), scope=name, key_func=_KEYS[name], on_breach=_too_many_page)
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])
    # Failed authentications: an address over its allowance is refused before its secret is
    # checked (so guessing goes no faster), and only a refused secret (401) counts, so callers
    # whose secrets are good are never slowed. API calls without a bearer secret are exempt: they
    # guess nothing (their 401 says to send one).
    for endpoint in api_views:
        limit = limiter.shared_limit(
            failed_auth, scope=FAILED_AUTH, key_func=client_address, deduct_when=_refused,
            exempt_when=lambda: not _credential_sent(), on_breach=_too_many_failures,
        )
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])
    for endpoint in sign_ins:
        limit = limiter.shared_limit(
            failed_auth, scope=FAILED_AUTH, key_func=client_address, deduct_when=_refused, on_breach=_too_many_sign_ins,
        )
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])
    return limiter


class _MaxLengthStream(LimitedStream):
    """werkzeug reads a body of unknown length (chunked) up to max_content_length and hands on
    what it has, so a longer body arrives cut short (a 400 for broken JSON instead of a 413):
    on reaching the maximum, look one byte further."""

    def __init__(self, stream, limit: int):
        super().__init__(stream, limit, is_max=True)
        self._source = stream

    def _refuse_if_longer(self) -> None:
        if self._source.read(1):
            raise RequestEntityTooLarge()

    def on_exhausted(self) -> None:
        self._refuse_if_longer()

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted:
            self._refuse_if_longer()
        return data


class BoundedRequest(flask.Request):
    """Bodies above max_content_length are a 413 however they are sent."""

    @cached_property
    def stream(self):
        if (
            self.content_length is None
            and self.max_content_length is not None
            and "wsgi.input_terminated" in self.environ
            and not self.shallow
        ):
            return _MaxLengthStream(self.environ["wsgi.input"], self.max_content_length)
        return super().stream


class MalformedBody(BadRequest):
    """The server could not read the request's body: a chunk size that is not hexadecimal, a bad
    trailer, a body cut short. The client's fault, so a 400 problem and never a 500."""

    description = Text("The request body is malformed (a bad chunk size or trailer, or cut short).")

    def __init__(self) -> None:
        super().__init__()
        self.data = {"messages": {"body": {"body": [self.description]}}}


class _ClientBody:
    """The server's wsgi.input, whose errors become MalformedBody, and which knows whether the
    body was read to its end. gunicorn raises its own parse errors (InvalidChunkSize,
    InvalidHeader, ChunkMissingTerminator: none an OSError) from read() while the application
    reads the body; werkzeug turns only OSError and ValueError into a 400, so these went up as a
    500 with a stack trace."""

    def __init__(self, stream, environ):
        self._stream = stream
        self.failed = False
        self._chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        try:
            self._left = 0 if self._chunked else max(0, int(environ.get("CONTENT_LENGTH") or 0))
        except ValueError:
            self._left = 0
        self.unread = self._chunked or self._left > 0

    def _call(self, method: str, *args):
        try:
            data = getattr(self._stream, method)(*args)
        except HTTPException:
            raise
        except Exception as exc:
            self.failed = True
            log.info("unreadable request body: %s", exc.__class__.__name__)
            raise MalformedBody() from None
        size = sum(map(len, data)) if method == "readlines" else len(data)
        asked = args[0] if args and args[0] is not None else -1
        if self._chunked:
            if (size == 0 and asked != 0) or method == "readlines" or (method == "read" and asked < 0):
                self.unread = False
        else:
            self._left -= size
            if self._left <= 0 or (size == 0 and asked != 0):
                self.unread = False
        return data

    def read(self, *args) -> bytes:
        return self._call("read", *args)

    def readline(self, *args) -> bytes:
        return self._call("readline", *args)

    def readlines(self, *args) -> list[bytes]:
        return self._call("readlines", *args)

    def __iter__(self):
        return iter(self.readline, b"")


def _close_after_answer(start_response) -> None:
    """Make the server close the connection after this answer. gunicorn keeps `Connection` for
    itself (it drops the application's hop-by-hop headers) and answers "keep-alive" unless its
    response object is told to close; then, finding a body left unread and longer than it
    drains (64 KiB), or unreadable, it closed the connection anyway, and a keep-alive client's
    next request on it failed. Its start_response is that object's bound method."""
    force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
    if callable(force_close):
        force_close()


class BodyGuard:
    """WSGI middleware: a body the server cannot read is a 400 (MalformedBody), and an answer
    given before the body was read to its end (a 413, a 429 or 401 that did not need it, that
    400) closes the connection and says `Connection: close`, so that a keep-alive client sends
    its next request on a new one instead of losing it."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"] = _ClientBody(environ["wsgi.input"], environ)

        def start(status: str, headers: list, exc_info=None):
            if body.failed or body.unread:
                _close_after_answer(start_response)
                headers = [(k, v) for k, v in headers if k.lower() != "connection"] + [("Connection", "close")]
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def install_request_limits(app: Flask, settings: Settings) -> None:
    """Bodies held to MAX_CONTENT_LENGTH even when chunked, and malformed ones refused; the
    client's address behind trusted proxies; and the rate limits (after the blueprints: it wraps
    their views)."""
    app.request_class = BoundedRequest
    app.wsgi_app = BodyGuard(app.wsgi_app)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    app.extensions["dealsvc-rate-limits"] = install_rate_limits(app, settings)
