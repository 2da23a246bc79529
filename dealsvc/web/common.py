"""What the pages' blueprints share: the services, rendering, headers, and errors shown as pages."""
from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, Response, current_app, make_response, render_template, request, session
from babel.dates import format_datetime
from flask_babel import get_locale, gettext
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from ..adapters.catalogues import localize
from ..bootstrap import Container
from ..domain.errors import DomainError, Unauthorized
from ..services.auth import Principal
from ..services.figures import FiguresService
from .forms import SignInForm, parse, shop_zone
from .security import check_csrf, csrf_token, rotate_csrf
from .texts import http_error, http_error_title

log = logging.getLogger(__name__)

# How long a page that says the database is busy tells the browser (and a person) to wait.
BUSY_RETRY_AFTER_S = 5


def services() -> Container:
    return current_app.extensions["dealsvc"]


def figures() -> FiguresService:
    return current_app.extensions["dealsvc"].figures


def page(template: str, status: int = 200, **context):
    return render_template(template, csrf_token=csrf_token(), **context), status


def clock(moment: datetime, zone: str | None = None, *, date: bool = False) -> str:
    """A time as the page shows it before the script puts it in the viewer's zone: in the page's
    language (Babel), on the shop's clock when the shop has a zone, else in UTC (and saying so);
    with the date unless `date` is False and it is today."""
    where = shop_zone(zone)
    local, today = moment.astimezone(where), services().clock().astimezone(where).date()
    pattern = "HH:mm" if not date and local.date() == today else "d MMM HH:mm"
    shown = format_datetime(local, pattern, tzinfo=where, locale=get_locale())
    return shown if where.key != "UTC" else f"{shown} UTC"


def said(message: str) -> str:
    """A domain error's text (domain/i18n.Text) in the page's language."""
    return localize(message, str(get_locale()))


def flat_errors(errors: dict | None, mapping: dict[str, str] | None = None) -> dict[str, list[str]]:
    """A domain error's fields renamed to the form's (the API's price_cents is the form's
    discount), its messages in the page's language."""
    out: dict[str, list[str]] = {}
    for name, messages in (errors or {}).items():
        key = (mapping or {}).get(name, name)
        out.setdefault(key, []).extend(said(m) for m in (messages if isinstance(messages, list) else [messages]))
    return out


def signing_in(role: str, refused: str) -> tuple[Principal | None, dict]:
    """The sign-in form's secret, checked: who it is when it is `role`'s, else the form's errors
    (`refused` for a secret that is no one's or someone else's)."""
    values, errors = parse(SignInForm(), request.form)
    if errors:
        return None, errors
    try:
        principal = services().auth.authenticate(values["secret"])
    except Unauthorized:
        principal = None
    if principal is None or principal.role != role:
        return None, {"secret": [refused]}
    return principal, {}


def open_page_session(key: str, role: str, subject: str) -> None:
    """Who just signed in, kept under `key` of the cookie as a session the server holds; a new
    CSRF token with it, so that nothing from before the sign-in carries over."""
    rotate_csrf()
    session.permanent = True
    session[key] = services().auth.open_session(role, subject)


def close_page_session(key: str) -> None:
    """Only this page's identity (`key`): the shop and the console may share one browser."""
    services().auth.close_session(session.pop(key, None))
    rotate_csrf()


def too_many_sign_ins(retry_after: int) -> Response:
    """The page for an address over its allowance of failed sign-ins (api/limits.py)."""
    return make_response(page(
        "web/error.html", 429, title=gettext("Too many attempts"),
        detail=gettext("Too many failed sign-ins from this address. Try again in %(seconds)s s.", seconds=retry_after),
    ))


def protect(bp: Blueprint) -> Blueprint:
    """CSRF on every POST, no caching of pages, and errors as pages, not JSON. (The security
    headers of every answer: web/security.py.)"""
    bp.before_request(check_csrf)

    @bp.after_request
    def _headers(response):
        if response.mimetype == "text/html":
            # Pages show a signed-in person's data: never from a shared cache or the back button of another.
            response.headers["Cache-Control"] = "no-store"
        return response

    @bp.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if error.response is not None:  # already drawn (the rate limiter's page, with its Retry-After)
            return error.response
        title, detail = http_error(error)
        return page("web/error.html", error.code or 500, title=title, detail=detail)

    @bp.errorhandler(DomainError)
    def _domain(error: DomainError):
        title = said(error.title) if error.title else http_error_title(error.status)
        html, status = page("web/error.html", error.status, title=title, detail=said(error.detail))
        retry_after = getattr(error, "retry_after", None)  # Unavailable: a 503 that says when
        return html, status, ({"Retry-After": str(retry_after)} if retry_after is not None else {})

    @bp.errorhandler(OperationalError)
    def _database(error: OperationalError):
        log.warning("database unavailable on %s %s", request.method, request.path)
        html, status = page("web/error.html", 503, title=gettext("Busy"), detail=gettext("The database is busy or unreachable; try again in a moment."))
        return html, status, {"Retry-After": str(BUSY_RETRY_AFTER_S)}

    return bp
