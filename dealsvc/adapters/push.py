"""Push through firebase-admin to FCM's HTTP v1 API (real FCM, or any FCM-v1-compatible
endpoint such as the built-in emulator), with every answer classified for the outbox."""
from __future__ import annotations

import concurrent.futures
import email.utils
import itertools
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Callable, Protocol

from urllib.parse import urlsplit

import firebase_admin
import google.auth.credentials
import google.auth.exceptions
import requests.adapters
import requests.utils
from urllib3.util.retry import Retry
from firebase_admin import credentials, exceptions, messaging

from ..domain import delivery

log = logging.getLogger(__name__)

SENT, DEAD_TOKEN, RETRY, DEAD_LETTER = "sent", "dead_token", "retry", "dead_letter"
# FCM refused the service's own credentials (401, or 403 other than SENDER_ID_MISMATCH): no
# message is to blame, every message meets it; the outbox holds the push, it does not spend it.
AUTH_FAILED = "auth_failed"
# Never sent: the gateway was told to stop before this message's turn (shutdown, or the
# dispatcher's circuit breaker opened meanwhile). The outbox gives it back as it was.
UNSENT = "unsent"
ACCEPTED_WITHOUT_NAME = "accepted_without_name"  # PushResult.error of a SENT without FCM's id


@dataclass(frozen=True)
class PushMessage:
    token: str
    data: dict[str, str]
    collapse_key: str
    ttl_s: int
    expires_at_unix: int
    title: str | None = None  # None: a data-only message (the app updates silently)
    body: str | None = None
    # Web push, for the residents' web app: a browser always shows a push, so a data-only
    # message still has words for it there (None: the same as title and body).
    web_title: str | None = None
    web_body: str | None = None
    urgency: str = "normal"  # RFC 8030 Urgency (domain.delivery.urgency)
    link: str | None = None  # opened by a tap on the web notification (https only)
    image: str | None = None  # the offer's photo, an absolute URL, shown in the notification


@dataclass(frozen=True)
class PushResult:
    outcome: str
    message_id: str | None = None
    error: str | None = None
    retry_after_s: float | None = None


# FCM answered 2xx but the body had no message name (firebase-admin's resp["name"] raised), or
# could not be read. A 2xx means FCM took the message: sending it again could only show it twice
# on the phone. So it counts as sent, without an FCM id; the oddity is logged per batch by send().
ACCEPTED_WITHOUT_NAME_RESULT = PushResult(SENT, message_id=None, error=ACCEPTED_WITHOUT_NAME)


class SendGate(Protocol):
    """What a caller of `send` lets the gateway know while a batch is on the wire."""

    def may_send(self) -> bool:
        """Asked before each message's request: False leaves it UNSENT."""

    def answered(self, result: PushResult) -> None:
        """Told each result as it arrives (from the gateway's threads)."""


class PushGateway(Protocol):
    def send(self, messages: list[PushMessage], gate: SendGate | None = None) -> list[PushResult]:
        """One result per message, in order; never raises for a per-message failure."""


class _NoGoogleCredential(credentials.Base):
    """For an FCM-compatible endpoint that wants no Google sign-in (the emulator)."""

    def get_credential(self):
        return google.auth.credentials.AnonymousCredentials()


_app_names = itertools.count()


def to_fcm(message: PushMessage) -> messaging.Message:
    notification = (
        messaging.Notification(title=message.title, body=message.body, image=message.image) if message.title else None
    )
    # iOS shows the picture through the app's notification service extension, which runs only
    # on a mutable-content alert.
    picture = bool(notification and message.image)
    web_title, web_body = message.web_title or message.title, message.web_body or message.body
    # The phone app hands us its FCM registration token, so the message targets `token`
    # (firebase-admin 7.7 prefers installation ids, `fid`, which the app does not give us).
    return messaging.Message(
        token=message.token,
        data=message.data,
        notification=notification,
        android=_android(message.ttl_s, message.collapse_key, notification is not None),
        apns=_apns(message.expires_at_unix, message.collapse_key, notification is not None,
                   message.image if picture else None),
        # The tag replaces a shown notification, the Topic an undelivered push: both the
        # offer's own, so a withdrawal or a price drop takes the alert's place.
        webpush=messaging.WebpushConfig(
            headers={
                "TTL": str(message.ttl_s),
                "Urgency": message.urgency,
                "Topic": delivery.web_topic(message.collapse_key),
            },
            notification=(
                messaging.WebpushNotification(
                    title=web_title, body=web_body, tag=message.collapse_key, image=message.image if picture else None
                )
                if web_title else None
            ),
            fcm_options=_webpush_options(message.link) if message.link else None,
        ),
    )


# The parts of a message that every push about an offer sends alike in a batch (its key, its TTL,
# its expiry): built once and shared by those messages (firebase-admin only reads them), not
# once a push. Keyed by every value they hold.
@lru_cache(maxsize=1024)
def _android(ttl_s: int, collapse_key: str, alert: bool) -> messaging.AndroidConfig:
    return messaging.AndroidConfig(
        ttl=timedelta(seconds=ttl_s), collapse_key=collapse_key, priority="high" if alert else "normal"
    )


@lru_cache(maxsize=1024)
def _apns(expires_at_unix: int, collapse_key: str, alert: bool, picture: str | None) -> messaging.APNSConfig:
    return messaging.APNSConfig(
        headers={
            "apns-expiration": str(expires_at_unix),
            "apns-collapse-id": collapse_key,
            "apns-priority": "10" if alert else "5",
            "apns-push-type": "alert" if alert else "background",
        },
        payload=messaging.APNSPayload(
            aps=messaging.Aps(content_available=not alert, mutable_content=True if picture else None)
        ),
        fcm_options=messaging.APNSFCMOptions(image=picture) if picture else None,
    )


@lru_cache(maxsize=1024)
def _webpush_options(link: str) -> messaging.WebpushFCMOptions:
    return messaging.WebpushFCMOptions(link=link)


def _is_token_violation(error: exceptions.FirebaseError) -> bool:
    """INVALID_ARGUMENT is FCM's answer both to a bad message and to a bad token; only the
    latter names the field message.token (or says so in the message)."""
    if "registration token" in str(error).lower():
        return True
    response = getattr(error, "http_response", None)
    try:
        details = response.json()["error"].get("details", []) if response is not None else []
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    for detail in details:
        for violation in detail.get("fieldViolations", []) or []:
            if violation.get("field") == "message.token":
                return True
    return False


def retry_after_s(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """FCM's Retry-After as seconds from now: delay-seconds or an HTTP-date (RFC 9110), never
    negative, never infinite or NaN; None when absent or unreadable. How long to actually wait
    is the outbox's decision (it clamps this to its own backoff ceiling)."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment is None or moment.tzinfo is None:
            return None  # RFC 9110 dates are GMT; a date without a zone is not one
        seconds = moment.timestamp() - now()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _retry_after(error: exceptions.FirebaseError) -> float | None:
    response = getattr(error, "http_response", None)
    return retry_after_s(response.headers.get("Retry-After") if response is not None else None)


def classify(error: Exception) -> PushResult:
    """Map firebase-admin's exception for one message to what the outbox does next."""
    name = type(error).__name__
    if isinstance(error, (messaging.UnregisteredError, messaging.SenderIdMismatchError)):
        return PushResult(DEAD_TOKEN, error=name)
    if isinstance(error, (exceptions.UnauthenticatedError, exceptions.PermissionDeniedError)):
        # 401, or a 403 that is not about the token (SENDER_ID_MISMATCH is, above): a revoked
        # key, a disabled API. Held until FCM accepts the credentials again, never a dead letter.
        return PushResult(AUTH_FAILED, error=name, retry_after_s=_retry_after(error))
    if isinstance(error, exceptions.InvalidArgumentError):
        return PushResult(DEAD_TOKEN if _is_token_violation(error) else DEAD_LETTER, error=name)
    if isinstance(
        error,
        (
            messaging.QuotaExceededError,
            exceptions.ResourceExhaustedError,
            exceptions.UnavailableError,
            exceptions.InternalError,
            exceptions.DeadlineExceededError,
            exceptions.UnknownError,
        ),
    ):
        return PushResult(RETRY, error=name, retry_after_s=_retry_after(error))
    return PushResult(DEAD_LETTER, error=name)


@dataclass
class FirebasePushGateway:
    """firebase-admin as the one FCM client, over requests. With `credentials_path`, Google's
    sign-in; with `endpoint`, any FCM-v1-compatible server instead of FCM (the settings give
    one or the other; see `firebase_messaging`). dealsvc/adapters/fcm_curl.py is the other
    transport of the same gateway.

    Messages go out `concurrency` at a time through one long-lived thread pool shared by every
    caller of this gateway (firebase-admin's `send_each` would start and stop a thread per
    message of every batch). Measured against firebase-admin's `send_each_async` (httpx), the
    threads are several times faster here: see bench/fanout.py and the README."""

    project_id: str
    credentials_path: str | None = None
    endpoint: str | None = None
    timeout_s: float = 10.0
    concurrency: int = 32
    _service: object = field(init=False, repr=False)
    _app: firebase_admin.App = field(init=False, repr=False)
    _pool: concurrent.futures.ThreadPoolExecutor = field(init=False, repr=False)
    _answer: threading.local = field(init=False, repr=False)
    _closed: bool = field(init=False, default=False, repr=False)

    def __post_init__(self) -> None:
        self._app, self._service = firebase_messaging(
            self.project_id, self.credentials_path, self.endpoint, self.timeout_s
        )
        # firebase-admin has no public setting for the thing below, so it reaches into
        # _MessagingService (firebase-admin is pinned in requirements.txt, and
        # tests/integration/test_push.py fails loudly if these internals change).
        # Retries belong to the outbox (durable, with jitter and Retry-After). firebase-admin's
        # own urllib3 retries would sleep through a 429's Retry-After or a 503's backoff inside
        # send_each, stalling the whole batch. Only a connection that never reached the server
        # is retried here; a POST that may have been received is never sent twice by us.
        parts = urlsplit(self._service._fcm_url)
        session = self._service._client.session
        session.mount(
            f"{parts.scheme}://{parts.netloc}",
            requests.adapters.HTTPAdapter(
                pool_connections=4,
                pool_maxsize=max(self.concurrency, 1),
                max_retries=Retry(total=1, connect=1, read=0, status=0, other=0, respect_retry_after_header=False),
            ),
        )
        # requests reads the proxy variables (and ~/.netrc) on every request, which costs about
        # a third of a push's CPU time. Read them once, here, and keep using them.
        session.proxies.update(requests.utils.get_environ_proxies(self._service._fcm_url))
        session.verify = trusted_certificates() or True  # likewise the CA bundle variables
        session.trust_env = False
        self._answer = threading.local()
        session.hooks["response"].append(self._saw_response)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(self.concurrency, 1), thread_name_prefix="fcm-send"
        )

    def send(self, messages: list[PushMessage], gate: SendGate | None = None) -> list[PushResult]:
        futures: list[concurrent.futures.Future | None] = []
        for message in messages:
            try:
                futures.append(self._pool.submit(self._send_one, message, gate))
            except RuntimeError:
                # The pool is shut down (close(), or the interpreter is exiting): what was not
                # handed to it is not sent, and the outbox keeps it.
                futures.append(None)
        results = [PushResult(UNSENT, error="gateway_closed") if f is None else f.result() for f in futures]
        unconfirmed = sum(1 for r in results if r.error == ACCEPTED_WITHOUT_NAME)
        if unconfirmed:
            log.warning("FCM accepted %d pushes without naming them (a 2xx without \"name\"): recorded as sent", unconfirmed)
        return results

    def _send_one(self, message: PushMessage, gate: SendGate | None) -> PushResult:
        if gate is not None and not gate.may_send():
            return PushResult(UNSENT, error="held")
        result = self._attempt(message)
        if gate is not None:
            gate.answered(result)
        return result

    def _attempt(self, message: PushMessage) -> PushResult:
        """One message's fate, whatever happens: a surprise in one message's answer never
        reaches the other messages of its batch."""
        self._answer.status = None
        try:
            return PushResult(SENT, message_id=messaging.send(to_fcm(message), app=self._app))
        except exceptions.FirebaseError as error:
            if self._accepted():
                return self._accepted_without_name()
            return classify(error)
        except google.auth.exceptions.GoogleAuthError as error:
            return sign_in_failure(error)
        except (ValueError, TypeError) as error:
            if self._accepted():
                return self._accepted_without_name()
            # firebase-admin refused to build or encode the message: the same message would
            # fail the same way again.
            log.warning("push refused before it was sent: %s", type(error).__name__)
            return PushResult(DEAD_LETTER, error=type(error).__name__)
        except Exception as error:  # noqa: BLE001 - the surprise stays this message's
            if self._accepted():
                return self._accepted_without_name()
            # Anything else (a transport or library surprise) says nothing about the message:
            # only a permanent answer ends a push early, so it is tried again later.
            log.warning("push failed unexpectedly, to be retried: %s", type(error).__name__)
            return PushResult(RETRY, error=type(error).__name__)

    def _accepted(self) -> bool:
        status = self._answer.status
        return status is not None and 200 <= status < 300

    @staticmethod
    def _accepted_without_name() -> PushResult:
        return ACCEPTED_WITHOUT_NAME_RESULT

    def _saw_response(self, response, *_args, **_kwargs):
        """requests' response hook: the status of the last answer this thread got, so that an
        error raised after a 2xx is known for what it is."""
        self._answer.status = response.status_code
        return response

    def close(self) -> None:
        """Once every caller of send() has returned (sends after this come back UNSENT)."""
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True)
        firebase_admin.delete_app(self._app)


def trusted_certificates() -> str | None:
    """The CA bundle to trust as requests chooses it from the environment (REQUESTS_CA_BUNDLE,
    then CURL_CA_BUNDLE: a private FCM-compatible endpoint, or a proxy that inspects TLS);
    None: the default (certifi's). Read by both gateways, once each."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def firebase_messaging(
    project_id: str, credentials_path: str | None, endpoint: str | None, timeout_s: float
) -> tuple[firebase_admin.App, messaging._MessagingService]:
    """A firebase-admin app of its own and its messaging service, sending to `endpoint` when
    given (any FCM-v1-compatible server), else to FCM. With `credentials_path`, Google's
    sign-in with that service account; without, none (the emulator)."""
    cred = credentials.Certificate(credentials_path) if credentials_path else _NoGoogleCredential()
    app = firebase_admin.initialize_app(
        cred, {"projectId": project_id, "httpTimeout": timeout_s}, name=f"dealsvc-push-{next(_app_names)}"
    )
    service = messaging._get_messaging_service(app)
    if endpoint:
        # firebase-admin has no setting for the FCM endpoint: _fcm_url is the one place it is kept.
        service._fcm_url = fcm_send_url(endpoint, project_id)
    return app, service


def sign_in_failure(error: google.auth.exceptions.GoogleAuthError) -> PushResult:
    """What google-auth's failure to get an access token means for every message waiting on it."""
    if isinstance(error, google.auth.exceptions.TransportError):
        # The token endpoint could not be reached: the network's fault, not the key's.
        return PushResult(RETRY, error=type(error).__name__)
    # google-auth answers FCM's 401 by refreshing the access token and trying again; a refresh
    # that is refused (a revoked key: RefreshError; anonymous credentials cannot refresh:
    # InvalidOperation) is FCM refusing our credentials all the same.
    return PushResult(AUTH_FAILED, error=type(error).__name__)


def fcm_send_url(endpoint: str, project_id: str) -> str:
    return f"{endpoint.rstrip('/')}/v1/projects/{project_id}/messages:send"
