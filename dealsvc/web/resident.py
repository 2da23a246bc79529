"""The residents' web app (/app/): an installable Progressive Web App. The pages are drawn here
with their words in the page's language; the data comes from the public JSON API (/api/v1/...),
called by the page's script (static/app/app.js) with the subscriber's secret, which stays on the
device. Also the web manifest, the service worker (served at /app/sw.js so that its scope is
/app/) and the offline page it falls back to."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, redirect, render_template, url_for
from flask_babel import get_locale, gettext, ngettext

from ..domain.categories import CATEGORIES
from ..domain.consent import CURRENT_NOTICE
from ..domain.places import DAY_NAMES, MAX_EXTRA_PLACES
from .common import page, protect, services
from .language import page_locale
from .security import PAGE_CSP

bp = protect(Blueprint("resident_pages", __name__, url_prefix="/app"))

STATIC = Path(__file__).resolve().parent / "static"
# What the service worker keeps for the app to start with no network: the offline page, the
# script, the styles, the icons, Leaflet and its set-up (the pages themselves always come from the network).
SHELL_FILES = (
    "web.css", "app/app.js", "app/app.css", "app/icon-192.png", "app/icon-512.png", "app/icon-maskable-512.png",
    "vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css", "map.js",
)
# Leaflet's marker images: Leaflet asks for them by their plain names (no ?v=).
SHELL_IMAGES = (
    "vendor/leaflet/images/marker-icon.png", "vendor/leaflet/images/marker-icon-2x.png",
    "vendor/leaflet/images/marker-shadow.png",
)
# Where the Firebase JS SDK talks to when real web push is configured (getToken and its refresh).
# Where the joining map starts before the resident gives a place (their location or a pin): the
# project's home town, wide enough to find one's own region. (No setting for it yet.)
MAP_START = {"lat": 45.4642, "lon": 9.19, "zoom": 5}
FIREBASE_ORIGINS = (
    "https://firebaseinstallations.googleapis.com", "https://fcmregistrations.googleapis.com",
)


def _setting(name: str):
    """A setting the web app reads; read defensively, as older Settings lack the map and web push ones."""
    return getattr(services().settings, name, None)


def firebase_web_config() -> dict | None:
    raw = _setting("firebase_web_config")
    if not raw:
        return None
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def push_mode() -> str:
    """"firebase": real web push (the Firebase JS SDK); "emulator": the built-in FCM emulator hands
    the page a token and the pushes it received; "none": this service cannot push to a browser."""
    if firebase_web_config() and _setting("firebase_vapid_key"):
        return "firebase"
    if "fcm-emulator" in current_app.extensions:
        return "emulator"
    return "none"


def tile_origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url.replace("{s}", "a"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = parts.netloc
    if "{s}" in url:  # Leaflet's subdomains ({s}: a, b, c)
        host = "*." + host.split(".", 1)[1] if "." in host else host
    return f"{parts.scheme}://{host}"


def with_tiles(csp: str) -> str:
    """A map page's CSP, widened for the configured tile server's images (none by default, when
    the maps have no tiles)."""
    tiles = tile_origin(_setting("map_tiles"))
    return csp.replace("img-src 'self' data:", f"img-src 'self' data: {tiles}") if tiles else csp


def leaflet_settings() -> dict:
    """What static/map.js reads of a page's map settings, the same on every page with a map: the
    tiles (none: a plain background) and their attribution, where Leaflet's marker images are."""
    return {
        "tiles": _setting("map_tiles") or None,
        "attribution": _setting("map_attribution") or None,
        "leafletImages": url_for("web_assets.static", filename="vendor/leaflet/images/"),
    }


def leaflet_texts() -> dict:
    """The words static/map.js reads from a page's texts: the zoom buttons' titles."""
    return {"zoomIn": gettext("Zoom in"), "zoomOut": gettext("Zoom out")}


def app_csp() -> str:
    """The pages' CSP, widened only by what is configured: the tile server's images, Firebase's
    registration endpoints. With default settings nothing but this service is allowed."""
    csp = with_tiles(PAGE_CSP)
    if push_mode() == "firebase":
        csp = csp.replace("connect-src 'self'", "connect-src 'self' " + " ".join(FIREBASE_ORIGINS))
    return csp


@bp.after_request
def _app_headers(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = app_csp()
    return response


@lru_cache(maxsize=64)
def _content_hash(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def asset(name: str) -> str:
    """A static file's URL with its content's hash (?v=): a deploy changes the URL, so neither a
    browser's cache nor the service worker's serves the old file to the new pages."""
    return url_for("web_assets.static", filename=name, v=_content_hash(name))



# A number of each CLDR plural category (one, few, many, other...) of the app's languages.
PLURAL_SAMPLES = (0, 1, 2, 3, 5, 11, 21, 100, 1_000_000)


def _plural(text_for) -> dict[str, str]:
    """A text with a number in each plural form of the page's language, keyed by CLDR category;
    the script picks one with Intl.PluralRules(lang).select(n). `text_for(n)`: an ngettext call."""
    rule = get_locale().plural_form
    forms: dict[str, str] = {}
    for n in PLURAL_SAMPLES:
        forms.setdefault(rule(n), text_for(n))
    return forms


def _texts() -> dict:
    """The words the script writes into the pages, in the page's language ({name}: filled in there;
    a text with a number: its plural forms, see _plural)."""
    return {
        "loading": gettext("Loading…"),
        "offline": gettext("Cannot reach the service; check the connection and try again."),
        "noOffers": gettext("Nothing on offer around you right now. You will get an alert when something comes up."),
        "offers": _plural(lambda n: ngettext("{n} offer around you.", "{n} offers around you.", n)),
        "away": gettext("{distance} away"),
        "left": _plural(lambda n: ngettext("{n} left", "{n} left", n)),
        "ends": gettext("ends {when}"),
        "openUntil": gettext("Open until {time}"),
        "openNow": gettext("Open now"),
        "closedUntil": gettext("Closed now, opens {time}"),
        "closedNow": gettext("Closed now"),
        "off": gettext("−{pct}"),
        "was": gettext("was {price}"),
        "from": gettext("from {time}: {price}"),
        "noSteps": gettext("No lower price planned."),
        "youAreHere": gettext("Your place"),
        "pinPlaced": gettext("Pin placed at latitude {lat}, longitude {lon}."),
        "where": gettext("Latitude {lat}, longitude {lon}"),
        **leaflet_texts(),
        "noPlace": gettext("Put a pin on the map, or use your location."),
        "locating": gettext("Finding your location…"),
        "located": gettext("Found your location."),
        "noLocation": gettext("Your location is not available: put a pin on the map instead."),
        "joining": gettext("Joining…"),
        "joined": gettext("You are in. Alerts for offers around you are on their way."),
        "problem": gettext("That did not work: {detail}"),
        "fixFields": gettext("Some answers need a change; see the messages by the fields."),
        "reserving": gettext("Reserving…"),
        "code": gettext("Your pickup code"),
        "heldUntil": gettext("Held for you until {time}"),
        "release": gettext("Release"),
        "released": gettext("Released: the items are back on offer."),
        "status_held": gettext("held"),
        "status_collected": gettext("collected"),
        "status_released": gettext("released"),
        "status_expired": gettext("hold ended"),
        "noReservations": gettext("No reservations on this device."),
        "follow": gettext("Follow this shop"),
        "unfollow": gettext("Stop following this shop"),
        "following": gettext("You follow this shop: its offers reach you first."),
        "gone": gettext("This offer is no longer available."),
        "notJoined": gettext("Join first to reserve and to get alerts."),
        "saved": gettext("Saved."),
        "left_app": gettext("You left: your subscription and its places are deleted."),
        "confirmLeave": gettext("Leave and delete your subscription from this service?"),
        "noFavorites": gettext("You follow no shop yet."),
        "notifyOn": gettext("Alerts are on."),
        "notifyOff": gettext("Alerts are off in this browser: allow notifications to receive them."),
        "notifyNone": gettext("This service cannot send alerts to a browser yet."),
        "joinNone": gettext("Joining is not possible here yet: this service cannot send alerts to a browser."),
        "pushUnsupported": gettext("This browser cannot receive alerts from a web page: join with another browser, such as a recent Chrome, Edge or Firefox."),
        "notifyDenied": gettext("Notifications from this site are blocked in this browser. Alerts need them: allow them in the browser's settings for this site, then reload this page."),
        "acceptPrivacy": gettext("Read the privacy notice and tick the box to join."),
        "exporting": gettext("Preparing your data…"),
        "exported": gettext("Your data is downloaded."),
        "pushFailed": gettext("Alerts could not be turned on in this browser. Try again in a moment, or join with another browser."),
    }


def _context(**extra) -> dict:
    svc = services()
    rules = svc.rules.current()
    config = {
        "api": "/api/v1",
        **leaflet_settings(),
        "mapStart": MAP_START,
        "push": push_mode(),
        "emulator": "/emulator/api/web-clients" if push_mode() == "emulator" else None,
        "firebase": firebase_web_config() if push_mode() == "firebase" else None,
        "vapidKey": _setting("firebase_vapid_key") if push_mode() == "firebase" else None,
        "firebaseScripts": [asset("vendor/firebase/firebase-app-compat.js"), asset("vendor/firebase/firebase-messaging-compat.js")]
        if push_mode() == "firebase" else [],
        "sw": url_for("resident_pages.service_worker"),
        "scope": url_for("resident_pages.near"),
        "join": url_for("resident_pages.join"),
        "offerUrl": url_for("resident_pages.offer", offer_id="OFFER_ID"),
        "maxRadius": rules.max_radius_m,
        "defaultRadius": rules.default_radius_m,
        "maxQuantity": rules.max_reservation_quantity,
        "privacyNotice": CURRENT_NOTICE,
        "texts": _texts(),
    }
    return {
        "app_config": config, "rules": rules, "categories": CATEGORIES, "asset": asset,
        "day_names": DAY_NAMES, "max_extra_places": MAX_EXTRA_PLACES,
        "retention_days": svc.settings.retention_days, **extra,
    }


@bp.get("")
def bare():
    return redirect(url_for("resident_pages.near"), 308)


@bp.get("/")
def near():
    return page("app/near.html", **_context())


@bp.get("/join")
def join():
    return page("app/join.html", **_context())


@bp.get("/offers/<offer_id>")
def offer(offer_id: str):
    return page("app/offer.html", **_context(offer_id=offer_id))


@bp.get("/reservations")
def reservations():
    return page("app/reservations.html", **_context())


@bp.get("/settings")
def settings():
    return page("app/settings.html", **_context())


@bp.get("/offline")
def offline():
    """What the service worker shows when a page cannot be fetched: no data, nothing that expires."""
    html = render_template("app/offline.html", asset=asset)
    return Response(html, mimetype="text/html", headers={"Cache-Control": "no-cache"})


@bp.get("/manifest.webmanifest")
def manifest():
    brand = services().settings.brand
    body = {
        "name": brand,
        "short_name": brand[:12],
        "description": gettext("Discounted surplus food from the shops near you, before it goes to waste."),
        "lang": page_locale(),
        "start_url": url_for("resident_pages.near"),
        "scope": url_for("resident_pages.near"),
        "id": url_for("resident_pages.near"),
        "display": "standalone",
        "background_color": "#f4f1ea",
        "theme_color": "#0b6b3a",
        "icons": [
            {"src": asset("app/icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": asset("app/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": asset("app/icon-maskable-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        ],
    }
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json",
                     headers={"Cache-Control": "no-cache"})


TEMPLATES = Path(__file__).resolve().parent / "templates"
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


@lru_cache(maxsize=1)
def _shell_version() -> str:
    """Changes whenever anything the worker keeps does (a file of the shell, the offline page's
    template or its words), so browsers install the new service worker."""
    digest = hashlib.sha256()
    for path in ([STATIC / name for name in SHELL_FILES + SHELL_IMAGES + ("app/sw.js",)] + [TEMPLATES / "app" / "offline.html"]
                 + sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@bp.get("/sw.js")
def service_worker():
    """The service worker, at /app/ so that it controls the app's pages (its scope is /app/)."""
    shell = ([asset(name) for name in SHELL_FILES] + [url_for("web_assets.static", filename=name) for name in SHELL_IMAGES]
             + [url_for("resident_pages.offline")])
    head = (
        f"var VERSION = {json.dumps(_shell_version())};\n"
        f"var SHELL = {json.dumps(shell)};\n"
        f"var OFFLINE = {json.dumps(url_for('resident_pages.offline'))};\n"
        f"var OFFER_URL = {json.dumps(url_for('resident_pages.offer', offer_id='OFFER_ID'))};\n"
        f"var ICON = {json.dumps(asset('app/icon-192.png'))};\n"
        f"var OPENED_URL = {json.dumps(url_for('notifications.notification_opened', notification_id='NOTIFICATION_ID'))};\n"
    )
    body = head + (STATIC / "app" / "sw.js").read_text(encoding="utf-8")
    return Response(body, mimetype="text/javascript", headers={
        "Cache-Control": "no-cache", "Service-Worker-Allowed": url_for("resident_pages.near"),
        # A worker runs under its own script's CSP: it fetches the shell from this service, nothing else.
        "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    })
