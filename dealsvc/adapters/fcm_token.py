"""The curl gateway's access token: firebase-admin's credential (google-auth's own token),
refreshed ahead of its expiry in the background so that sending never waits for it."""
from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime, timezone

import google.auth.credentials
import google.auth.transport.requests

log = logging.getLogger(__name__)


class AccessToken:
    """The Authorization header of firebase-admin's credential (google-auth's own token).

    Fetched when there is none or it has expired (the callers wait: nothing can be sent
    without it); refreshed in the background once it has less than `ahead_s` left, while the
    current one is still used, so that sending never stalls for a refresh (callers only look at
    the token meanwhile: the background fetch holds `_fetching`, not the lock that starts it);
    fetched again at once after FCM answers 401. Anonymous credentials (the emulator) have no
    token. Each request to the token endpoint gives up after `timeout_s` (google-auth would wait
    120 s; it tries a 5xx or 429 answer up to three times)."""

    def __init__(self, credential: google.auth.credentials.Credentials, ahead_s: float = 300.0,
                 timeout_s: float = 10.0):
        self._credential = credential
        self._ahead_s = ahead_s
        self._timeout_s = timeout_s
        self._anonymous = isinstance(credential, google.auth.credentials.AnonymousCredentials)
        self._fetching = threading.Lock()  # held while a token is fetched, in the foreground or not
        self._starting = threading.Lock()  # held while a background fetch is looked at or started
        self._invalid = False
        self._background: threading.Thread | None = None
        self._retry_background_at = 0.0

    def headers(self) -> dict[str, str]:
        """Raises google-auth's error when there is no usable token and none can be had."""
        if self._anonymous:
            return {}
        left = self._seconds_left()
        if left <= 0:
            with self._fetching:  # one caller fetches it; the others wait for it, then use it
                if self._seconds_left() <= 0:
                    self._refresh()
        elif left < self._ahead_s:
            self._refresh_in_background()
        headers: dict[str, str] = {}
        self._credential.apply(headers)
        return headers

    def invalidate(self) -> None:
        """FCM refused the token (401): the next send fetches another."""
        if not self._anonymous:
            self._invalid = True

    def _seconds_left(self) -> float:
        cred = self._credential
        if self._invalid or cred.token is None:
            return 0.0
        if cred.expiry is None:
            return math.inf
        # google-auth keeps expiry as a naive UTC datetime.
        return (cred.expiry - datetime.now(timezone.utc).replace(tzinfo=None)).total_seconds()

    def _refresh(self) -> None:
        self._credential.refresh(TimedRequest(self._timeout_s))
        self._invalid = False

    def _refresh_in_background(self) -> None:
        with self._starting:
            busy = self._background is not None and self._background.is_alive()
            if busy or time.monotonic() < self._retry_background_at:
                return
            self._background = threading.Thread(target=self._background_refresh, name="fcm-token", daemon=True)
            self._background.start()

    def _background_refresh(self) -> None:
        try:
            with self._fetching:
                if self._seconds_left() < self._ahead_s:
                    self._refresh()
        except Exception as error:  # noqa: BLE001 - the current token still serves; tried again later
            log.warning("refreshing the FCM access token failed (%s); the current one is used meanwhile",
                        type(error).__name__)
            self._retry_background_at = time.monotonic() + 10.0


class TimedRequest(google.auth.transport.requests.Request):
    """google-auth's transport for the token endpoint, with a timeout of our own (google-auth
    asks for none, so requests would wait 120 s for a token server that does not answer)."""

    def __init__(self, timeout_s: float):
        super().__init__()
        self._timeout_s = timeout_s

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        return super().__call__(url, method=method, body=body, headers=headers,
                                timeout=timeout or self._timeout_s, **kwargs)
