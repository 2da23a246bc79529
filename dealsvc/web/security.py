"""The pages' session and CSRF protection (a signing key kept in var/, cookie flags, one token per
session), and the security headers of every answer."""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from pathlib import Path

from flask_babel import gettext
from flask import Response, abort, request, session
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
        abort(400, description=gettext("The form has expired or did not come from this site. Reload the page and try again."))


# --- the security headers of every answer (pages, JSON, problems, docs, assets, emulator, metrics) ---

# Pages: scripts and styles come only from this service (no inline code, nothing from elsewhere).
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# What is not a page (JSON, problems, metrics, scripts, styles) runs nothing and loads nothing.
NON_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# /api/docs (flask-smorest's Swagger UI page): its assets from this service, plus the one inline
# script that starts it, allowed by its hash; Swagger UI sets style attributes from its script.
DOCS_PATH = "/api/docs"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)
HSTS = "max-age=31536000"


def _docs_csp(body: bytes) -> str:
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'" for script in _INLINE_SCRIPT.findall(body)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


def security_headers(response: Response) -> Response:
    """Set on every answer of the app (an after_request hook): a CSP fit for what the answer is,
    no MIME sniffing, no framing (CSP frame-ancestors and X-Frame-Options for older browsers),
    no full URL in Referer to other sites, and HSTS when the request came over https (directly,
    or through DEALSVC_TRUSTED_PROXIES's X-Forwarded-Proto)."""
    headers = response.headers
    if "Content-Security-Policy" not in headers:
        if response.mimetype == "text/html" and request.path == DOCS_PATH and not response.direct_passthrough:
            headers["Content-Security-Policy"] = _docs_csp(response.get_data())
        elif response.mimetype == "text/html":
            headers["Content-Security-Policy"] = PAGE_CSP
        else:
            headers["Content-Security-Policy"] = NON_PAGE_CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        headers["Strict-Transport-Security"] = HSTS
    return response
