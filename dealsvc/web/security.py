"""The pages' session and CSRF protection: a signing key kept in var/, cookie flags, one token per session."""
from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

from flask import abort, request, session
from flask.sessions import SecureCookieSessionInterface

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"


def secret_key(var_dir: Path) -> str:
    """The key that signs the session cookie: generated at first start and kept (0600) in
    var/web-secret-key, so sign-ins survive restarts and every process of one host agrees."""
    path = Path(var_dir) / "web-secret-key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process (a gunicorn sibling) may have created it a moment ago.
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
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
