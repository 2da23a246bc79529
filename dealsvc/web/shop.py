"""The shopkeeper's page: sign in with the API key, pick a shop, post an offer, look after the offers."""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, request, session, url_for

from ..domain.categories import CATEGORIES
from ..domain.errors import DomainError, NotFound, Unauthorized
from ..services.auth import MERCHANT, Principal
from .common import figures, flat_errors, page, protect, services
from .security import rotate_csrf
from .forms import CollectForm, OfferForm, QuantityForm, ShopForm, SignInForm, parse

class FormErrors(Exception):
    """A small form of an offer's row did not parse; args[0] holds its errors by field."""


bp = protect(Blueprint("shop_pages", __name__, url_prefix="/shop"))

# The API's names for what the form calls otherwise.
OFFER_FIELDS = {"original_price_cents": "original_price", "price_cents": "discount_pct"}


def _merchant() -> tuple[Principal, dict] | None:
    """The signed-in merchant, read afresh (a suspension shows at the next page)."""
    merchant_id = session.get("merchant_id")
    if not merchant_id:
        return None
    try:
        m = services().merchants.get(merchant_id)
    except NotFound:
        session.pop("merchant_id", None)
        return None
    return Principal(MERCHANT, m["id"], m["status"]), m


def _signed_in() -> tuple[Principal, dict]:
    found = _merchant()
    if found is None:
        abort(redirect(url_for(".home")))
    return found


def _dashboard(principal: Principal, merchant: dict, status: int = 200, *, shop_id: str | None = None,
               form: dict | None = None, errors: dict | None = None, row_errors: dict | None = None,
               shop_form: dict | None = None, shop_errors: dict | None = None):
    svc = services()
    shops = svc.shops.list_for(principal)
    wanted = shop_id or request.args.get("shop") or session.get("shop_id")
    shop = next((s for s in shops if s["id"] == wanted), shops[0] if shops else None)
    rules = svc.rules.current()  # fresh on every page: the operator may have moved the band
    offers, reach = [], None
    if shop is not None:
        session["shop_id"] = shop["id"]
        category = (form or {}).get("category") or shop["category"]
        reach = figures().reach(shop["lat"], shop["lon"], category)
        for offer in svc.offers.list_for_shop(principal, shop["id"])[:30]:
            offer["stats"] = svc.offers.stats(principal, offer["id"])
            offers.append(offer)
    low, high = rules.min_discount_pct, rules.max_discount_pct
    defaults = {
        "category": shop["category"] if shop else CATEGORIES[0],
        "discount_pct": f"{round((low + high) / 2):g}" if low <= round((low + high) / 2) <= high else f"{low:g}",
        "quantity": "5",
    }
    return page(
        "web/shop.html", status,
        merchant=merchant, shops=shops, shop=shop, rules=rules, offers=offers, reach=reach,
        categories=CATEGORIES, form={**defaults, **(form or {})}, errors=errors or {},
        row_errors=row_errors or {}, shop_form=shop_form or {}, shop_errors=shop_errors or {},
    )


@bp.get("/")
def home():
    found = _merchant()
    if found is None:
        return page("web/signin.html", role="shop", errors={})
    return _dashboard(*found)


@bp.post("/signin")
def signin():
    values, errors = parse(SignInForm(), request.form)
    if not errors:
        try:
            principal = services().auth.authenticate(values["secret"])
        except Unauthorized:
            principal = None
        if principal is None or principal.role != MERCHANT:
            errors = {"secret": ["This is not a valid merchant API key."]}
    if errors:
        return page("web/signin.html", 401, role="shop", errors=errors)
    rotate_csrf()
    session.permanent = True
    session["merchant_id"] = principal.id
    return redirect(url_for(".home"), 303)


@bp.post("/signout")
def signout():
    # Only this page's identity: the shop and the console may share one browser.
    session.pop("merchant_id", None)
    rotate_csrf()
    return redirect(url_for(".home"), 303)


@bp.get("/reach")
def reach():
    """How many residents an offer of this category at this shop would reach now (for the form)."""
    principal, _ = _signed_in()
    shop = next((s for s in services().shops.list_for(principal) if s["id"] == request.args.get("shop_id")), None)
    if shop is None:
        return jsonify({"error": "No such shop among yours."}), 404
    category = request.args.get("category")
    if category not in CATEGORIES:
        category = shop["category"]
    return jsonify({"shop_id": shop["id"], "category": category,
                    "residents": figures().reach(shop["lat"], shop["lon"], category)})


@bp.post("/shops")
def add_shop():
    principal, merchant = _signed_in()
    values, errors = parse(ShopForm(), request.form)
    if not errors:
        try:
            shop = services().shops.create(principal, values)
            flash(f"Shop “{shop['name']}” added.")
            return redirect(url_for(".home", shop=shop["id"]), 303)
        except DomainError as error:
            errors = flat_errors(error.errors) or {"_form": [error.detail]}
    return _dashboard(principal, merchant, 422, shop_form=request.form.to_dict(), shop_errors=errors)


@bp.post("/offers")
def post_offer():
    principal, merchant = _signed_in()
    values, errors = parse(OfferForm(), request.form)
    if not errors:
        data = {
            "shop_id": values["shop_id"],
            "title": values["title"],
            "category": values["category"],
            "original_price_cents": values["original_price"],
            "discount_pct": values["discount_pct"],
            "quantity": values["quantity"],
            "expires_at": values["expires_at"],
        }
        if values.get("description"):
            data["description"] = values["description"]
        try:
            offer = services().offers.create(principal, data)
            flash(f"Posted “{offer['title']}” at {offer['discount_pct']:g} % off; the residents nearby are being told.")
            return redirect(url_for(".home", shop=offer["shop_id"]), 303)
        except DomainError as error:
            errors = flat_errors(error.errors, OFFER_FIELDS) or {"_form": [error.detail]}
    return _dashboard(principal, merchant, 422, shop_id=request.form.get("shop_id"),
                      form=request.form.to_dict(), errors=errors)


def _offer_action(offer_id: str, action):
    principal, merchant = _signed_in()
    try:
        message = action(principal)
    except FormErrors as error:
        return _dashboard(principal, merchant, 422, row_errors={offer_id: error.args[0]})
    except DomainError as error:
        return _dashboard(principal, merchant, error.status if error.status != 404 else 404,
                          row_errors={offer_id: flat_errors(error.errors) or {"_form": [error.detail]}})
    flash(message)
    return redirect(url_for(".home"), 303)


@bp.post("/offers/<offer_id>/quantity")
def adjust_quantity(offer_id: str):
    def action(principal):
        values, errors = parse(QuantityForm(), request.form)
        if errors:
            raise FormErrors(errors)
        offer = services().offers.update(principal, offer_id, {"quantity": values["quantity"]})
        return f"“{offer['title']}”: quantity now {offer['quantity']}, {offer['quantity_left']} left."
    return _offer_action(offer_id, action)


@bp.post("/offers/<offer_id>/withdraw")
def withdraw(offer_id: str):
    def action(principal):
        offer = services().offers.update(principal, offer_id, {"status": "cancelled"})
        return f"“{offer['title']}” withdrawn; the residents who were told see it gone."
    return _offer_action(offer_id, action)


@bp.post("/offers/<offer_id>/collect")
def collect(offer_id: str):
    def action(principal):
        values, errors = parse(CollectForm(), request.form)
        if errors:
            raise FormErrors(errors)
        r = services().reservations.collect_by_code(principal, offer_id, values["code"])
        return f"Reservation {r['code']} collected: hand over {r['quantity']}."
    return _offer_action(offer_id, action)
