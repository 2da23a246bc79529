"""Maps on the shop's and the operator's pages (static/web/maps.js, Leaflet as the web app sets it
up): the settings the script reads, the pages' CSP widened for the tile server, and the JSON of
the operator's map (live offers, residents per grid cell, reach of a point) for the signed-in
console only."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from flask_babel import format_decimal, get_locale, gettext, lazy_gettext as _l, ngettext
from marshmallow import ValidationError, fields, validate, validates_schema

from ..domain import privacy
from ..domain.audience import distance_text
from ..services.maps import Box
from .admin import is_operator
from .common import protect, services
from .forms import Form, ReachForm, parse
from .resident import MAP_START, leaflet_settings, leaflet_texts, with_tiles
from .security import PAGE_CSP

bp = protect(Blueprint("admin_maps", __name__, url_prefix="/admin/map"))

# The pages that draw a map (blueprints): their CSP lets the configured tile server's images in.
MAP_PAGES = ("shop_pages", "signup_pages", "admin_pages")


def map_config() -> dict:
    """What static/web/maps.js reads from the page (#map-config): tiles (none: a plain background,
    as in the web app), where a map with no pin starts, and the radius rules its circles show."""
    rules = services().rules.current()
    return {
        **leaflet_settings(),
        "start": MAP_START,
        "maxRadius": rules.max_radius_m,
        "defaultRadius": rules.default_radius_m,
        # As the pushes write distances ("1,2 km" in Italian).
        "maxRadiusText": distance_text(rules.max_radius_m, str(get_locale())),
        "defaultRadiusText": distance_text(rules.default_radius_m, str(get_locale())),
        "cellM": privacy.CELL_M,
        "cellText": distance_text(privacy.CELL_M, str(get_locale())),
        "minResidents": privacy.FLOOR,
        "texts": {
            **leaflet_texts(),
            "pin": gettext("Your shop (drag to move it)"),
            "tooWide": gettext("Zoom in to see where residents are."),
            "failed": gettext("The map's figures could not be loaded; try again in a moment."),
        },
    }


def tiles_csp(response: Response) -> Response:
    """An app-wide after_request: a map page's CSP also lets the tile server's images in (none
    by default, when the maps have no tiles)."""
    if response.mimetype == "text/html" and request.blueprint in MAP_PAGES:
        csp = with_tiles(PAGE_CSP)
        if csp != PAGE_CSP:
            response.headers["Content-Security-Policy"] = csp
    return response


class BoxForm(Form):
    """The part of the map in view (Leaflet's bounds), in degrees."""

    south = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=-90, max=90))
    north = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=-90, max=90))
    west = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=-180, max=180))
    east = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=-180, max=180))

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data["south"] >= data["north"]:
            raise ValidationError(_l("The south edge must be below the north edge."), "south")
        if data["west"] >= data["east"]:
            raise ValidationError(_l("The west edge must be left of the east edge."), "west")


def _signed_out():
    return jsonify({"error": gettext("Sign in as the operator.")}), 401


def _invalid(errors: dict):
    """A query that does not read: each field's messages, as a 400."""
    return jsonify({"errors": {k: [str(m) for m in v] for k, v in errors.items()}}), 400


def _box():
    values, errors = parse(BoxForm(), request.args)
    if errors:
        return None, _invalid(errors)
    return Box(values["south"], values["west"], values["north"], values["east"]), None


@bp.get("/residents")
def residents():
    """Active residents per grid cell in view; cells with fewer than privacy.FLOOR are left out."""
    if not is_operator():
        return _signed_out()
    box, refused = _box()
    if refused:
        return refused
    found = services().maps.residents(box)
    for cell in found["cells"]:
        cell["text"] = ngettext("%(shown)s resident", "%(shown)s residents", cell["residents"],
                                shown=format_decimal(cell["residents"]))
    return jsonify({"cell_m": privacy.CELL_M, "min_residents": privacy.FLOOR, **found})


@bp.get("/offers")
def offers():
    """The live offers at shops in view."""
    if not is_operator():
        return _signed_out()
    box, refused = _box()
    if refused:
        return refused
    return jsonify({"items": services().maps.offers(box)})


@bp.get("/reach")
def reach():
    """How many residents an offer at the clicked point would reach now (the reach service)."""
    if not is_operator():
        return _signed_out()
    values, errors = parse(ReachForm(), request.args)
    if errors:
        return _invalid(errors)
    count = services().maps.reach(values["lat"], values["lon"], values.get("category"))
    return jsonify({
        "lat": values["lat"], "lon": values["lon"], "residents": count,
        "max_radius_m": services().rules.current().max_radius_m,
        "text": ngettext("An offer here would reach %(shown)s resident now.",
                         "An offer here would reach %(shown)s residents now.", count, shown=format_decimal(count)),
    })
