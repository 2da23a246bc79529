"""The pages' language: the one a person chose with the switch (kept in the session), else the
best of LOCALES for the browser's Accept-Language, else DEALSVC_DEFAULT_LOCALE."""
from __future__ import annotations

import re

from flask import Blueprint, current_app, redirect, request, session

from ..domain.locales import LOCALES, best_match
from .common import protect

SESSION_KEY = "locale"

bp = protect(Blueprint("language", __name__))


def page_locale() -> str:
    chosen = session.get(SESSION_KEY)
    if chosen in LOCALES:
        return chosen
    return best_match(request.headers.get("Accept-Language"), current_app.config["BABEL_DEFAULT_LOCALE"])


# A path of this site: one slash, then no second slash or backslash, and no white space or control
# character anywhere (browsers drop a tab, turning "/\t/elsewhere" into "//elsewhere").
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\x00-\x20\x7f\\]*")


def _back(target: str | None) -> str:
    """Only a path of this site (never "//elsewhere" or a full URL): the switch is no open redirect."""
    return target if target and _LOCAL_PATH.fullmatch(target) else "/"


@bp.post("/language")
def switch():
    locale = request.form.get("locale", "")
    if locale in LOCALES:
        session[SESSION_KEY] = locale
    return redirect(_back(request.form.get("next")), 303)
