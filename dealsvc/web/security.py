"""The pages' session and CSRF protection: a signing key kept in var/, cookie flags, one token per session."""
from __future__ import annotations

import hmac
import logging
import secrets
from pathlib import Path

from flask import abort, request, session
from flask.sessions import SecureCookieSessionInterface

from ..adapters.secret_files import kept_secret

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"


def secret_key(var_dir: Path) -> str:
    """The key that signs the session cookie: generated at first start and kept in
    var/web-secret-key, so sign-ins survive restarts and every process of one host agrees."""
    path = Path(var_dir) / "web-secret-key"
    key, made = kept_secret(path, lambda: secrets.token_urlsafe(48))
    if made:
        log.info("generated the pages' session key in %s", path)
    return key


class SessionInterface(SecureCookieSessionInterface):
    """The cookie is Secure whenever the page was served over https, not only when configured."""

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def rotate_csrf() -> None:
    """A new token when who is signed in changes: a token seen before sign-in is worth nothing after."""
    session["csrf"] = secrets.token_urlsafe(32)


def check_csrf() -> None:
    """Every state-changing request of the pages carries the session's token in the form."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = session.get("csrf")
    sent = request.form.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        abort(400, description="The form has expired or did not come from this site. Reload the page and try again.")
