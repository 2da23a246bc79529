"""The shopkeeper's page: sign in with the API key, pick a shop, post an offer, look after the offers."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, abort, flash, jsonify, redirect, request, session, url_for
from flask_babel import format_decimal, gettext, ngettext

from ..api.limits import sign_in_page
from ..api.photos import takes_upload
from ..domain import hours
from ..domain import merchants as merchant_rules
from ..domain.categories import CATEGORIES
from ..domain.errors import DomainError, Forbidden, NotFound
from ..services.auth import MERCHANT, Principal
from .common import (clock, close_page_session, figures, flat_errors, open_page_session, page, protect, said, services,
                     signing_in)
from .funnel import funnel_csv, funnel_words
from .texts import account_status, after, coarse
from .forms import (STEP_ROWS, CollectForm, HoursForm, OfferForm, QuantityForm, ShopForm, next_time_of_day,
                    parse, shop_zone, wall_clock)

class FormErrors(Exception):
    """A small form of an offer's row did not parse; args[0] holds its errors by field."""


bp = protect(Blueprint("shop_pages", __name__, url_prefix="/shop"))

# The API's names for what the form calls otherwise.
OFFER_FIELDS = {"original_price_cents": "original_price", "price_cents": "discount_pct"}
# What the form's "Until" holds at first: two hours ahead, on the quarter hour (most surplus is gone by then).
DEFAULT_LIFETIME_S = 2 * 3600
MAX_LIFETIME_S = 720 * 3600  # the longest max_offer_horizon_h the operator may set


def _whole(text, low: int, high: int) -> int | None:
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if low <= value <= high else None


def waves_summary(waves: list[dict], followers: int) -> str:
    """The planned waves in a sentence short enough for a phone (from the coarse reach)."""
    if not waves:
        return gettext("Too few residents nearby to show (%(few)s): they are all told at once.", few=coarse(0))
    if len(waves) == 1:
        if followers:
            return gettext("All %(residents)s told at once (your followers among them).", residents=coarse(waves[0]["residents"]))
        return gettext("All %(residents)s told at once.", residents=coarse(waves[0]["residents"]))
    order = gettext("your followers first, then the nearest") if followers else gettext("nearest first")
    parts = [f"{format_decimal(w['residents'])} {after(w['after_s'])}" for w in waves[:3]]
    if len(waves) > 3:
        later = waves[3:]
        parts.append(ngettext("%(residents)s more in %(num)d later wave", "%(residents)s more in %(num)d later waves",
                              len(later), residents=format_decimal(sum(w["residents"] for w in later))))
    return gettext("Told in %(waves)s waves while stock lasts (%(order)s), about: %(parts)s.",
                   waves=len(waves), order=order, parts=", ".join(parts))


def _waves_preview(shop: dict, category: str, quantity: int | None, lifetime_s: int | None) -> dict:
    """The reach and the waves an offer would go out in, as the merchant may see them (coarse)."""
    followers = figures().followers(shop["id"])
    if quantity is None:
        reach = figures().shop_reach(shop, category)
        return {"reach": reach, "waves": [], "followers": followers, "text": gettext("Enter how many to see how the offer goes out.")}
    reach, waves = figures().shop_waves(shop, quantity, category, lifetime_s=lifetime_s)
    return {"reach": reach, "waves": waves, "followers": followers, "text": waves_summary(waves, followers)}


def _default_until(zone) -> str:
    """The form's first "Until", on the shop's clock: DEFAULT_LIFETIME_S ahead, up to the next quarter hour."""
    at = (services().clock() + timedelta(seconds=DEFAULT_LIFETIME_S)).astimezone(zone).replace(second=0, microsecond=0)
    at += timedelta(minutes=-at.minute % 15)
    return at.strftime("%Y-%m-%dT%H:%M")


def _form_lifetime(text: str | None, zone) -> int | None:
    """Seconds until the "Until" the form holds (read on the shop's clock `zone`); the default's when it holds none."""
    if not text:
        return DEFAULT_LIFETIME_S
    until = wall_clock(text, zone)
    if until is None:
        return None
    return max(0, min(MAX_LIFETIME_S, int((until - services().clock()).total_seconds())))


def _closing(shop: dict, until_text: str, zone) -> dict | None:
    """When the shop closes during an offer posted now (from its opening hours), for the form's
    warning: as the "Until" input writes it (which the script compares with), as the page shows
    it, and whether the form's "Until" is past it already. None: no closing in sight."""
    _opens, closes = hours.told_between(shop["opening_hours"], shop["timezone"], services().clock())
    if closes is None:
        return None
    local = closes.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    until = wall_clock(until_text, zone)
    return {"input": local, "shown": clock(closes, shop["timezone"]), "past": until is not None and until > closes}


def _merchant() -> tuple[Principal, dict] | None:
    """The signed-in merchant, read afresh (a suspension shows at the next page), while the
    session held on the server lives (signing out ends it, for every copy of the cookie)."""
    merchant_id = services().auth.session_subject(session.get("merchant"), MERCHANT)
    if not merchant_id:
        session.pop("merchant", None)
        return None
    try:
        m = services().merchants.get(merchant_id)
    except NotFound:
        services().auth.close_session(session.pop("merchant", None))
        return None
    return Principal(MERCHANT, m["id"], m["status"]), m


def _signed_in() -> tuple[Principal, dict]:
    found = _merchant()
    if found is None:
        abort(redirect(url_for(".home")))
    return found


def _dashboard(principal: Principal, merchant: dict, status: int = 200, *, shop_id: str | None = None,
               form: dict | None = None, errors: dict | None = None, row_errors: dict | None = None,
               shop_form: dict | None = None, shop_errors: dict | None = None,
               hours_form: dict | None = None, hours_errors: dict | None = None):
    svc = services()
    shops = svc.shops.list_for(principal)
    wanted = shop_id or request.args.get("shop") or session.get("shop_id")
    shop = next((s for s in shops if s["id"] == wanted), shops[0] if shops else None)
    rules = svc.rules.current()  # fresh on every page: the operator may have moved the band
    offers, reach, preview, told, closing = [], None, None, {}, None
    zone = shop_zone(shop["timezone"] if shop else None)
    until = (form or {}).get("expires_at") or _default_until(zone)
    if shop is not None:
        session["shop_id"] = shop["id"]
        closing = _closing(shop, until, zone)
        category = (form or {}).get("category")
        category = category if category in CATEGORIES else shop["category"]
        if merchant_rules.may_see_figures(merchant["status"]):
            quantity = _whole((form or {}).get("quantity", "5"), 1, 999)
            preview = _waves_preview(shop, category, quantity, _form_lifetime(until, zone))
            reach = preview["reach"]
        for offer in svc.offers.list_for_shop(principal, shop["id"])[:30]:
            offer["stats"] = svc.offers.stats(principal, offer["id"])
            offers.append(offer)
        # Only the offers just listed: list_for_shop checked they are this merchant's.
        told = figures().shop_waves_told(offers)
    low, high = rules.min_discount_pct, rules.max_discount_pct
    defaults = {
        "category": shop["category"] if shop else CATEGORIES[0],
        "discount_pct": f"{round((low + high) / 2):g}" if low <= round((low + high) / 2) <= high else f"{low:g}",
        "quantity": "5",
        "expires_at": until,
    }
    return page(
        "web/shop.html", status,
        merchant=merchant, shops=shops, shop=shop, rules=rules, offers=offers, reach=reach,
        preview=preview, told=told, step_rows=STEP_ROWS, words=coarse, closing=closing,
        hours_example=hours.EXAMPLE,
        funnel=svc.funnel.for_merchant(principal, shop["id"]) if shop else None, **funnel_words(),
        # Collapsed unless the shopkeeper used it: most offers have no steps.
        steps_open=any(k.startswith(("step", "price_steps")) for k in (errors or {}))
        or any((form or {}).get(f"step{n}_{part}", "").strip() for n in STEP_ROWS for part in ("at", "discount_pct")),
        categories=CATEGORIES, form={**defaults, **(form or {})}, errors=errors or {},
        row_errors=row_errors or {}, shop_form=shop_form or {}, shop_errors=shop_errors or {},
        hours_form=hours_form, hours_errors=hours_errors or {},
    )


@bp.get("/")
def home():
    found = _merchant()
    if found is None:
        return page("web/signin.html", role="shop", errors={})
    return _dashboard(*found)


@bp.post("/signin")
@sign_in_page
def signin():
    principal, errors = signing_in(MERCHANT, gettext("This is not a valid merchant API key."))
    if errors:
        return page("web/signin.html", 401, role="shop", errors=errors)
    open_page_session("merchant", MERCHANT, principal.id)
    return redirect(url_for(".home"), 303)


@bp.post("/signout")
def signout():
    close_page_session("merchant")
    return redirect(url_for(".home"), 303)


@bp.get("/reach")
def reach():
    """How many residents an offer of this category at this shop would reach now (for the form),
    as the merchant may see it (domain/privacy.py)."""
    principal, merchant = _signed_in()
    if not merchant_rules.may_see_figures(merchant["status"]):
        return jsonify({"error": gettext("Your account is %(status)s: no figures until it is active.",
                                         status=account_status(merchant["status"]))}), 403
    shop = next((s for s in services().shops.list_for(principal) if s["id"] == request.args.get("shop_id")), None)
    if shop is None:
        return jsonify({"error": gettext("No such shop among yours.")}), 404
    category = request.args.get("category")
    if category not in CATEGORIES:
        category = shop["category"]
    quantity = _whole(request.args.get("quantity"), 1, 999)
    if "expires_at" in request.args:  # the form's "Until", on the shop's clock (as the form is read)
        lifetime_s = _form_lifetime(request.args["expires_at"], shop_zone(shop["timezone"]))
    else:
        lifetime_s = _whole(request.args.get("lifetime_s"), 0, MAX_LIFETIME_S)
    preview = _waves_preview(shop, category, quantity, lifetime_s)
    return jsonify({"shop_id": shop["id"], "category": category,
                    "residents": preview["reach"], "residents_text": coarse(preview["reach"]),
                    "followers": preview["followers"], "waves": preview["waves"], "waves_text": preview["text"]})


@bp.get("/funnel.csv")
def funnel_csv_file():
    """Every offer of one of the merchant's shops and what its alerts earned, for a spreadsheet."""
    principal, _ = _signed_in()
    shop = next((s for s in services().shops.list_for(principal) if s["id"] == request.args.get("shop")), None)
    if shop is None:
        abort(404)
    body = funnel_csv(shop, services().funnel.for_merchant(principal, shop["id"]))
    name = f"funnel-{shop['id']}-{services().clock():%Y%m%d}.csv"
    return Response("\ufeff" + body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@bp.post("/shops")
def add_shop():
    principal, merchant = _signed_in()
    values, errors = parse(ShopForm(), request.form)
    if not errors:
        try:
            shop = services().shops.create(principal, values)
            flash(gettext("Shop “%(name)s” added.", name=shop["name"]))
            return redirect(url_for(".home", shop=shop["id"]), 303)
        except DomainError as error:
            errors = flat_errors(error.errors, {"_schema": "_form"}) or {"_form": [said(error.detail)]}
            return _dashboard(principal, merchant, _refused(error), shop_form=request.form.to_dict(), shop_errors=errors)
    return _dashboard(principal, merchant, 422, shop_form=request.form.to_dict(), shop_errors=errors)


def _photo(errors: dict):
    """The form's photo made ready and kept, None without one; a refusal joins `errors`."""
    upload = request.files.get("photo")
    data = upload.read() if upload is not None else b""
    if not data:
        return None
    try:
        # The picture itself says what it is (a browser may send any Content-Type for a file).
        return services().photos.keep(data)
    except DomainError as error:
        errors.update(flat_errors(error.errors) or {"photo": [said(error.detail)]})
        return None


@bp.post("/shops/<shop_id>/hours")
def set_hours(shop_id: str):
    principal, merchant = _signed_in()
    values, errors = parse(HoursForm(), request.form)
    if not errors:
        try:
            shop = services().shops.update(principal, shop_id, {"opening_hours": values.get("opening_hours")})
        except NotFound:
            abort(404)
        flash(gettext("Opening hours of “%(name)s” saved.", name=shop["name"]) if shop["opening_hours"]
              else gettext("“%(name)s” has no opening hours now: it counts as always open.", name=shop["name"]))
        return redirect(url_for(".home", shop=shop["id"]), 303)
    return _dashboard(principal, merchant, 422, shop_id=shop_id, hours_form=request.form.to_dict(), hours_errors=errors)


@bp.post("/offers")
@takes_upload
def post_offer():
    principal, merchant = _signed_in()
    # The form's times are on the clock of the shop it posts at (the page says so), not the browser's.
    shop = next((s for s in services().shops.list_for(principal) if s["id"] == request.form.get("shop_id")), None)
    zone = shop_zone(shop["timezone"] if shop else None)
    values, errors = parse(OfferForm(zone), request.form)
    if not errors:
        data = {
            "shop_id": values["shop_id"],
            "title": values["title"],
            "category": values["category"],
            "original_price_cents": values["original_price"],
            "discount_pct": values["discount_pct"],
            "quantity": values["quantity"],
            "expires_at": values["expires_at"],
            "beyond_closing": values["beyond_closing"],
        }
        if values.get("description"):
            data["description"] = values["description"]
        rows = [n for n in STEP_ROWS if f"step{n}_at" in values]
        names = dict(OFFER_FIELDS)
        if rows:
            now = services().clock()
            data["price_steps"] = [
                {"at": next_time_of_day(values[f"step{n}_at"], zone, now), "discount_pct": values[f"step{n}_discount_pct"]}
                for n in rows
            ]
            # The API numbers the steps sent; the form's empty rows are not sent.
            for i, n in enumerate(rows):
                names[f"price_steps.{i}.at"] = f"step{n}_at"
                names[f"price_steps.{i}.discount_pct"] = names[f"price_steps.{i}.price_cents"] = f"step{n}_discount_pct"
        try:
            # Not kept for an account that may not post (create() says why, below).
            merchant_rules.check_may_post(merchant["status"])
            photo = _photo(errors)
        except DomainError:
            photo = None
        if errors:
            return _dashboard(principal, merchant, 422, shop_id=request.form.get("shop_id"),
                              form=request.form.to_dict(), errors=errors)
        try:
            try:
                offer = services().offers.create(principal, data, photo=photo)
            except BaseException:
                # Not posted: no offer shows the photo kept for it (unless another shows the same picture).
                services().photos.discard(photo)
                raise
            services().photos.settle(photo)
            steps = len(offer.get("price_steps") or [])
            posted = gettext("Posted “%(title)s” at %(pct)s %% off; the residents nearby are being told.",
                             title=offer["title"], pct=format_decimal(offer["discount_pct"]))
            if steps:
                posted += " " + ngettext("%(num)d lower price scheduled.", "%(num)d lower prices scheduled.", steps)
            if offer["capped_to_closing"]:
                posted += " " + gettext("It ends at %(time)s, when the shop closes.",
                                        time=clock(offer["expires_at"], shop["timezone"] if shop else None))
            flash(posted)
            return redirect(url_for(".home", shop=offer["shop_id"]), 303)
        except DomainError as error:
            errors = flat_errors(error.errors, names) or {"_form": [said(error.detail)]}
            return _dashboard(principal, merchant, _refused(error), shop_id=request.form.get("shop_id"),
                              form=request.form.to_dict(), errors=errors)
    return _dashboard(principal, merchant, 422, shop_id=request.form.get("shop_id"),
                      form=request.form.to_dict(), errors=errors)


def _refused(error: DomainError) -> int:
    """The page's status when the service refused a form: 403 when the account may not do it
    at all (suspended, pending), 422 for what the form said."""
    return error.status if isinstance(error, Forbidden) else 422


def _row_form(form) -> dict:
    """A row's small form, read: its values, else FormErrors with its errors."""
    values, errors = parse(form, request.form)
    if errors:
        raise FormErrors(errors)
    return values


def _offer_action(offer_id: str, action):
    principal, merchant = _signed_in()
    try:
        message = action(principal)
    except FormErrors as error:
        return _dashboard(principal, merchant, 422, row_errors={offer_id: error.args[0]})
    except DomainError as error:
        return _dashboard(principal, merchant, error.status if error.status != 404 else 404,
                          row_errors={offer_id: flat_errors(error.errors) or {"_form": [said(error.detail)]}})
    flash(message)
    return redirect(url_for(".home"), 303)


@bp.post("/offers/<offer_id>/quantity")
def adjust_quantity(offer_id: str):
    def action(principal):
        values = _row_form(QuantityForm())
        offer = services().offers.update(principal, offer_id, {"quantity": values["quantity"]})
        return gettext("“%(title)s”: quantity now %(quantity)s, %(left)s left.", title=offer["title"],
                       quantity=format_decimal(offer["quantity"]), left=format_decimal(offer["quantity_left"]))
    return _offer_action(offer_id, action)


@bp.post("/offers/<offer_id>/withdraw")
def withdraw(offer_id: str):
    def action(principal):
        offer = services().offers.update(principal, offer_id, {"status": "cancelled"})
        return gettext("“%(title)s” withdrawn; the residents who were told see it gone.", title=offer["title"])
    return _offer_action(offer_id, action)


@bp.post("/offers/<offer_id>/collect")
def collect(offer_id: str):
    def action(principal):
        values = _row_form(CollectForm())
        r = services().reservations.collect_by_code(principal, offer_id, values["code"])
        return gettext("Reservation %(code)s collected: hand over %(quantity)s.", code=r["code"], quantity=format_decimal(r["quantity"]))
    return _offer_action(offer_id, action)
