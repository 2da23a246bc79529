"""Push through firebase-admin to FCM's HTTP v1 API (real FCM, or any FCM-v1-compatible
endpoint such as the built-in emulator), with every answer classified for the outbox."""
from __future__ import annotations

import concurrent.futures
import itertools
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from urllib.parse import urlsplit

import firebase_admin
import google.auth.credentials
import requests.adapters
import requests.utils
from urllib3.util.retry import Retry
from firebase_admin import credentials, exceptions, messaging

log = logging.getLogger(__name__)

SENT, DEAD_TOKEN, RETRY, DEAD_LETTER = "sent", "dead_token", "retry", "dead_letter"


@dataclass(frozen=True)
class PushMessage:
    token: str
    data: dict[str, str]
    collapse_key: str
    ttl_s: int
    expires_at_unix: int
    title: str | None = None  # None: a data-only message (the app updates silently)
    body: str | None = None


@dataclass(frozen=True)
class PushResult:
    outcome: str
    message_id: str | None = None
    error: str | None = None
    retry_after_s: float | None = None


class PushGateway(Protocol):
    def send(self, messages: list[PushMessage]) -> list[PushResult]:
        """One result per message, in order; never raises for a per-message failure."""


class _NoGoogleCredential(credentials.Base):
    """For an FCM-compatible endpoint that wants no Google sign-in (the emulator)."""

    def get_credential(self):
        return google.auth.credentials.AnonymousCredentials()


_app_names = itertools.count()


def to_fcm(message: PushMessage) -> messaging.Message:
    notification = (
        messaging.Notification(title=message.title, body=message.body) if message.title else None
    )
    # The phone app hands us its FCM registration token, so the message targets `token`
    # (firebase-admin 7.7 prefers installation ids, `fid`, which the app does not give us).
    return messaging.Message(
        token=message.token,
        data=message.data,
        notification=notification,
        android=messaging.AndroidConfig(
            ttl=timedelta(seconds=message.ttl_s),
            collapse_key=message.collapse_key,
            priority="high" if notification else "normal",
        ),
        apns=messaging.APNSConfig(
            headers={
                "apns-expiration": str(message.expires_at_unix),
                "apns-collapse-id": message.collapse_key,
                "apns-priority": "10" if notification else "5",
                "apns-push-type": "alert" if notification else "background",
            },
            payload=messaging.APNSPayload(aps=messaging.Aps(content_available=notification is None)),
        ),
    )


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


def _retry_after(error: exceptions.FirebaseError) -> float | None:
    response = getattr(error, "http_response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date; the exponential backoff applies instead


def classify(error: Exception) -> PushResult:
    """Map firebase-admin's exception for one message to what the outbox does next."""
    name = type(error).__name__
    if isinstance(error, (messaging.UnregisteredError, messaging.SenderIdMismatchError)):
        return PushResult(DEAD_TOKEN, error=name)
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
    """firebase-admin as the one FCM client. With `credentials_path`, real FCM; with
    `endpoint`, any FCM-v1-compatible server and no Google credentials.

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

    def __post_init__(self) -> None:
        if self.credentials_path:
            cred = credentials.Certificate(self.credentials_path)
        else:
            cred = _NoGoogleCredential()
        self._app = firebase_admin.initialize_app(
            cred,
            {"projectId": self.project_id, "httpTimeout": self.timeout_s},
            name=f"dealsvc-push-{next(_app_names)}",
        )
        self._service = messaging._get_messaging_service(self._app)
        # firebase-admin has no public setting for either of the two things below, so they
        # reach into _MessagingService (firebase-admin is pinned in requirements.txt, and
        # tests/test_push.py fails loudly if these internals change).
        if self.endpoint and not self.credentials_path:
            self._service._fcm_url = fcm_send_url(self.endpoint, self.project_id)
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
        session.trust_env = False
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(self.concurrency, 1), thread_name_prefix="fcm-send"
        )

    def send(self, messages: list[PushMessage]) -> list[PushResult]:
        return [future.result() for future in [self._pool.submit(self._send_one, m) for m in messages]]

    def _send_one(self, message: PushMessage) -> PushResult:
        try:
            return PushResult(SENT, message_id=messaging.send(to_fcm(message), app=self._app))
        except exceptions.FirebaseError as error:
            return classify(error)
        except ValueError as error:
            # firebase-admin refused the message before sending it: retrying cannot help.
            log.warning("push refused by firebase-admin: %s", type(error).__name__)
            return PushResult(DEAD_LETTER, error=type(error).__name__)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        firebase_admin.delete_app(self._app)


def fcm_send_url(endpoint: str, project_id: str) -> str:
    return f"{endpoint.rstrip('/')}/v1/projects/{project_id}/messages:send"
