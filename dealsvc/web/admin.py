"""The operator's console: rules with their history, merchants, live figures and the reach of a point."""
from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext, ngettext

from ..api.limits import sign_in_page
from ..domain import merchants as merchant_rules
from ..domain.audit import Action
from ..domain.categories import CATEGORIES
from ..domain.errors import DomainError
from ..domain.rules import RULES, grouped
from ..services.auth import OPERATOR
from ..services.retention import describe as retention_settings
from .audit import audit_words, console_operator
from .common import close_page_session, figures, flat_errors, open_page_session, page, protect, said, services, signing_in
from .forms import ReachForm, RulesForm, parse
from .texts import account_status

bp = protect(Blueprint("admin_pages", __name__, url_prefix="/admin"))

MERCHANT_ACTIONS = {"approve": merchant_rules.ACTIVE, "suspend": merchant_rules.SUSPENDED}


def _operator_mark() -> str:
    """What the session keeps instead of the token: a changed DEALSVC_ADMIN_TOKEN signs everyone out."""
    return hmac.new(current_app.secret_key.encode(), services().admin_token.encode(), hashlib.sha256).hexdigest()


def is_operator() -> bool:
    """Signed in, in a session the server still holds (signing out ends it for every copy of
    the cookie), opened with the token in force."""
    mark = services().auth.session_subject(session.get("operator"), OPERATOR)
    if not mark:
        session.pop("operator", None)
        return False
    return hmac.compare_digest(mark, _operator_mark())


def _console(status: int = 200, *, rules_form: dict | None = None, rules_errors: dict | None = None):
    svc = services()
    rules = svc.rules.current()
    point, point_errors, reach, waves = {}, {}, None, None
    if "lat" in request.args or "lon" in request.args:
        point = request.args.to_dict()
        values, point_errors = parse(ReachForm(), request.args)
        if not point_errors:
            category = values.get("category")
            reach = figures().reach(values["lat"], values["lon"], category)
            if "quantity" in values:
                waves = {"quantity": values["quantity"],
                         "items": figures().waves(values["lat"], values["lon"], values["quantity"], category)}
    return page(
        "web/admin.html", status,
        rules=rules.as_dict(), rule_groups=grouped(), rules_form=rules_form, rules_errors=rules_errors or {},
        history=svc.rules.history(50), merchants=svc.merchants.list(), live=figures().live(),
        point=point, point_errors=point_errors, reach=reach, waves=waves, categories=CATEGORIES,
        retention=retention_settings(svc.settings.retention_days),
        activity=svc.activity.last_day(), audit=svc.audit.latest(_audit_before()), **audit_words(),
    )


def _audit_before() -> int | None:
    """Where the page of the audit starts (?audit_before=, the "older" link); the newest otherwise."""
    value = request.args.get("audit_before", "")
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 2**31 else None


@bp.get("/")
def home():
    if not is_operator():
        return page("web/signin.html", role="admin", errors={})
    return _console()


@bp.post("/signin")
@sign_in_page
def signin():
    _, errors = signing_in(OPERATOR, gettext("This is not the operator token."))
    if errors:
        return page("web/signin.html", 401, role="admin", errors=errors)
    open_page_session("operator", OPERATOR, _operator_mark())
    services().audit.note(console_operator(), Action.SIGNED_IN)
    return redirect(url_for(".home"), 303)


@bp.post("/signout")
def signout():
    if is_operator():
        services().audit.note(console_operator(), Action.SIGNED_OUT)
    close_page_session("operator")
    return redirect(url_for(".home"), 303)


def _require_operator():
    if not is_operator():
        return redirect(url_for(".home"), 303)
    return None


@bp.post("/rules")
def rules():
    if (away := _require_operator()) is not None:
        return away
    form = request.form.to_dict()
    # An unticked checkbox sends nothing at all: absent means off, or saving would leave it as it was.
    for box in (r.name for r in RULES if r.is_switch):
        form[box] = "true" if box in request.form else "false"
    values, errors = parse(RulesForm(), form)
    if not errors:
        try:
            services().rules.update(values, console_operator())
            flash(gettext("Rules saved; they apply from the next request."))
            return redirect(url_for(".home"), 303)
        except DomainError as error:
            errors = flat_errors(error.errors) or {"_form": [said(error.detail)]}
    return _console(422, rules_form=form, rules_errors=errors)


@bp.post("/merchants/<merchant_id>/<action>")
def moderate(merchant_id: str, action: str):
    if (away := _require_operator()) is not None:
        return away
    if action not in MERCHANT_ACTIONS:
        return page("web/error.html", 404, title=gettext("Not found"), detail=gettext("No such action."))
    m = services().merchants.set_status(merchant_id, MERCHANT_ACTIONS[action], console_operator())
    withdrawn = m["offers_withdrawn"]
    news = gettext("%(name)s is now %(status)s.", name=m["name"], status=account_status(m["status"]))
    if withdrawn:
        news += " " + ngettext("%(num)d live offer withdrawn.", "%(num)d live offers withdrawn.", withdrawn)
    flash(news)
    return redirect(url_for(".home"), 303)


@bp.post("/merchants/<merchant_id>/erase")
def erase(merchant_id: str):
    """The merchant's personal data erased, once the operator ticked the confirmation."""
    if (away := _require_operator()) is not None:
        return away
    if request.form.get("confirm") != "yes":
        flash(gettext("Nothing erased: tick the confirmation first."))
        return redirect(url_for(".home"), 303)
    try:
        services().erasure.erase_merchant(merchant_id, console_operator())
    except DomainError:
        return page("web/error.html", 404, title=gettext("Not found"), detail=gettext("No such merchant."))
    flash(gettext("The merchant's personal data is erased."))
    return redirect(url_for(".home"), 303)
