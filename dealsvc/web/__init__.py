"""Pages for people, served by the service itself: the shop's page, the operator's console, the
residents' web app (/app/), the phone inbox."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, redirect, request, url_for
from flask_babel import Babel

from ..domain.locales import LOCALES

from ..services.auth import PAGE_SESSION_LIFETIME
from .security import SessionInterface, secret_key

# The compiled catalogues (make i18n-compile).
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def register_pages(app: Flask, settings) -> None:
    app.secret_key = settings.secret_key or secret_key(settings.var_dir)
    app.session_interface = SessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="dealsvc_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=PAGE_SESSION_LIFETIME,
        # The cookie goes back only with a change. Sent with every answer (Flask's default for a
        # permanent session), a request that changed nothing but answered late (the shop page's
        # reach, asked while typing) put back the cookie of before a post that answered first,
        # and its "Posted" message was lost. The session's end is the server's (services/auth.py).
        SESSION_REFRESH_EACH_REQUEST=False,
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
    )

    from . import admin, language, maps, resident, shop, signup
    from .common import clock, said, too_many_sign_ins
    from .texts import CATEGORY_NAMES, account_status, after, offer_status

    app.extensions["dealsvc-page-too-many"] = too_many_sign_ins
    app.extensions["dealsvc-page-rate-limited"] = signup.too_many_sign_ups
    app.after_request(maps.tiles_csp)
    app.add_template_global(maps.map_config, "map_settings")

    app.add_template_filter(after, "after")
    app.add_template_filter(clock, "clock")
    app.add_template_filter(said, "said")  # a domain text (domain/i18n.Text) in the page's language

    assets = Blueprint("web_assets", __name__, static_folder="static", static_url_path="/assets",
                       template_folder="templates")

    @assets.get("/")
    def index():
        return redirect(url_for("shop_pages.home"))

    Babel(app, locale_selector=language.page_locale)

    @app.context_processor
    def _pages():
        return {
            "emulator_page": "fcm-emulator" in app.extensions,
            "brand": settings.brand,
            "category_names": CATEGORY_NAMES,
            "offer_status": offer_status,
            "account_status": account_status,
            "locales": LOCALES,
            "page_locale": language.page_locale() if request else settings.default_locale,
            # What each language is called in itself, so a person finds theirs whatever the page's.
            "locale_names": {"it": "Italiano", "fr": "Français", "en": "English"},
        }

    app.register_blueprint(assets)
    app.register_blueprint(language.bp)
    app.register_blueprint(shop.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(signup.bp)
    app.register_blueprint(maps.bp)
    app.register_blueprint(resident.bp)
    if "fcm-emulator" in app.extensions:
        from . import inbox

        app.register_blueprint(inbox.bp)
