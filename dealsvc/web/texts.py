"""The words of the pages that are not in a template: names of categories and statuses, coarse
figures, "after 10 min". Translated with the page's language (Flask-Babel) when they are read."""
from __future__ import annotations

from flask_babel import format_decimal, get_locale, gettext, lazy_gettext as _l

from ..adapters.catalogues import localize
from ..domain import merchants as merchant_rules
from ..domain import offers as offer_rules
from ..domain import privacy

CATEGORY_NAMES = {
    "bakery": _l("bakery"),
    "pastry": _l("pastry"),
    "dairy": _l("dairy"),
    "produce": _l("produce"),
    "meat": _l("meat"),
    "fish": _l("fish"),
    "deli": _l("deli"),
    "prepared_meals": _l("prepared meals"),
    "grocery": _l("grocery"),
    "beverages": _l("beverages"),
    "frozen": _l("frozen"),
    "other": _l("other"),
}

def offer_status(status: str) -> str:
    """An offer's status as the page's language says it of an offer (domain/offers.py)."""
    return localize(offer_rules.STATUS_WORDS.get(status, status), str(get_locale()))


def account_status(status: str) -> str:
    """A merchant account's status in the page's language (domain/merchants.py)."""
    return localize(merchant_rules.STATUS_WORDS.get(status, status), str(get_locale()))


def coarse(shown: int) -> str:
    """A coarse figure (domain/privacy.py) as a shopkeeper reads it, in the page's language."""
    if shown == 0:
        return gettext("fewer than %(few)s", few=format_decimal(privacy.FEW))
    return gettext("about %(shown)s", shown=format_decimal(shown))


def after(seconds: int) -> str:
    """When a wave goes out, as a person says it: "at once", "after 10 min", "after 1 h 30 min"."""
    seconds = int(seconds)
    if seconds <= 0:
        return gettext("at once")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [gettext("%(n)s h", n=hours)] if hours else []
    if minutes:
        parts.append(gettext("%(n)s min", n=minutes))
    if secs and not hours:
        parts.append(gettext("%(n)s s", n=secs))
    return gettext("after %(delay)s", delay=" ".join(parts))


# An HTTP error shown as a page: its name, and what it means when the code said nothing more.
HTTP_ERRORS = {
    400: (_l("Bad request"), _l("The page could not understand what the browser sent.")),
    401: (_l("Not signed in"), _l("Sign in to see this page.")),
    403: (_l("Not allowed"), _l("You may not do this.")),
    404: (_l("Not found"), _l("There is nothing at this address.")),
    405: (_l("Not allowed"), _l("This page cannot be used that way.")),
    409: (_l("Not possible now"), _l("This cannot be done in the state it is in now.")),
    413: (_l("Too large"), _l("What the browser sent is too large.")),
    422: (_l("Not possible"), _l("This cannot be done as asked.")),
    429: (_l("Too many attempts"), _l("Too many requests: wait a moment and try again.")),
    500: (_l("Something went wrong"), _l("Something went wrong on our side; try again in a moment.")),
    503: (_l("Busy"), _l("The service is busy; try again in a moment.")),
}


def http_error_title(status: int) -> str:
    """The name of an HTTP status on a page, in the page's language."""
    return str(HTTP_ERRORS.get(status, HTTP_ERRORS[500])[0])


def http_error(error) -> tuple[str, str]:
    """The title and detail of an HTTP error's page in the page's language: the code's own
    description when it gave one (already translated where it was raised), else the usual one."""
    title, usual = HTTP_ERRORS.get(error.code or 500, (error.name, error.description))
    detail = error.description if error.description != type(error).description else usual
    return str(title), str(detail)
