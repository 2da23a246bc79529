"""Signing up from the shop's page: the merchant (name, e-mail) and its first shop (an address the
geocoder finds, or a pin on the map), through the same services as POST /api/v1/merchants and
/api/v1/shops, in the same rate limit; the API key shown once, and signed in at once when active."""
from __future__ import annotations

from flask import Blueprint, make_response, request, session
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate

from ..api.limits import MERCHANTS, rate_limited_page
from ..domain import merchants as merchant_rules
from ..domain.categories import CATEGORIES
from ..domain.errors import DomainError
from ..services.auth import MERCHANT, Principal
from .common import flat_errors, page, protect, said, services
from .forms import Form, PersonText, ShopForm, at_most, parse
from .security import rotate_csrf

bp = protect(Blueprint("signup_pages", __name__, url_prefix="/shop/signup"))

# The sign-up form's field for each of ShopForm's (its "name" would clash with the merchant's).
SHOP_FIELDS = {"shop_name": "name", "category": "category", "address": "address", "lat": "lat", "lon": "lon"}


class MerchantForm(Form):
    """The account's part of the sign-up, held to POST /api/v1/merchants' rules (api/schemas.MerchantCreateSchema)."""

    name = PersonText(required=True, validate=at_most(200), error_messages={"required": _l("Required.")})
    email = fields.String(required=True, error_messages={"required": _l("Required.")}, validate=[
        at_most(320), validate.Email(error=_l("Enter an e-mail address such as name@example.com.")),
    ])


def _form(status: int = 200, *, form: dict | None = None, errors: dict | None = None):
    return page("web/signup.html", status, form=form or {}, errors=errors or {}, categories=CATEGORIES,
                rules=services().rules.current())


@bp.get("/")
def form():
    return _form()


def _parse(sent: dict) -> tuple[dict, dict, dict]:
    """The merchant's values, the shop's (ShopForm, the shop's name defaulting to the merchant's),
    and the errors of both by the sign-up form's field names."""
    merchant, errors = parse(MerchantForm(), sent)
    shop_sent = {ours: sent[theirs] for theirs, ours in SHOP_FIELDS.items() if theirs in sent}
    if not str(shop_sent.get("name", "")).strip():
        shop_sent["name"] = sent.get("name", "")
    shop, shop_errors = parse(ShopForm(), shop_sent)
    names = {ours: theirs for theirs, ours in SHOP_FIELDS.items()}
    for field, messages in shop_errors.items():
        if field == "name" and "name" in errors:
            continue  # the merchant's name, already said
        errors.setdefault(names.get(field, field), []).extend(messages)
    return merchant, shop, errors


@bp.post("/")
@rate_limited_page(MERCHANTS)
def signup():
    sent = request.form.to_dict()
    merchant_values, shop_values, errors = _parse(sent)
    if errors:
        return _form(422, form=sent, errors=errors)
    svc = services()
    if "lat" not in shop_values:
        # Found before the account is made: an address nobody can find makes no account.
        try:
            shop_values["lat"], shop_values["lon"] = svc.shops.locate(shop_values["address"])
        except DomainError as error:
            # The page's own way out (the pin), not the API's "send lat and lon".
            errors = {"address": [said(error.detail) + " " + gettext("Check it, or put the pin on the map.")]}
            return _form(error.status, form=sent, errors=errors)
    try:
        merchant = svc.merchants.register(merchant_values["name"], merchant_values["email"])
    except DomainError as error:
        errors = flat_errors(error.errors) or {"_form": [said(error.detail)]}
        return _form(error.status, form=sent, errors=errors)
    principal = Principal(MERCHANT, merchant["id"], merchant["status"])
    shop, shop_error = None, None
    try:
        shop = svc.shops.create(principal, shop_values)
    except DomainError as error:  # the account stands (its key is shown); the shop can be added once signed in
        shop_error = " ".join([said(error.detail), *flat_errors(error.errors).get("_form", [])])
    active = merchant["status"] == merchant_rules.ACTIVE
    # Whoever was signed in on this browser's shop page is not any more: it is the new account's now, or nobody's.
    svc.auth.close_session(session.pop("merchant", None))
    session.pop("shop_id", None)
    rotate_csrf()
    if active:
        session.permanent = True
        session["merchant"] = svc.auth.open_session(MERCHANT, merchant["id"])
        if shop is not None:
            session["shop_id"] = shop["id"]
    response = make_response(page(
        "web/signup_done.html", 201, merchant=merchant, api_key=merchant["api_key"], shop=shop,
        shop_error=shop_error, signed_in=active,
    ))
    # The key is in this answer only: kept by no cache, and not in the history's copy of the page.
    response.headers["Cache-Control"] = "no-store"
    return response


def too_many_sign_ups(retry_after: int):
    """The page for an address over its allowance of sign-ups (the API's POST /api/v1/merchants' own)."""
    return make_response(page(
        "web/error.html", 429, title=gettext("Too many attempts"),
        detail=gettext("Too many sign-ups from this address. Try again in %(seconds)s s.", seconds=retry_after),
    ))
