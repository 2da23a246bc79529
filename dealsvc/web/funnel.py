"""What the pages show of what alerts earned: the words of the funnel's stages and distance rings,
and the shop's funnel as a CSV file for a spreadsheet."""
from __future__ import annotations

import csv
import io
from datetime import time
from typing import Any

from babel.units import format_unit
from babel.dates import format_time
from flask_babel import get_locale, gettext, lazy_gettext as _l

from ..domain import privacy
from ..domain.funnel import RINGS, STAGES, Ring
from .forms import shop_zone

STAGE_NAMES = {"told": _l("Told"), "opened": _l("Opened"), "reserved": _l("Reserved"), "collected": _l("Collected")}
assert set(STAGE_NAMES) == set(STAGES)


def distance(metres: int) -> str:
    """A ring's bound as the page's language writes it: "250 m", "1 km"."""
    locale = get_locale()
    if metres >= 1000 and metres % 1000 == 0:
        return format_unit(metres // 1000, "length-kilometer", "short", locale=locale)
    return format_unit(metres, "length-meter", "short", locale=locale)


def ring_name(ring: Ring) -> str:
    if ring.high is None:
        return gettext("%(low)s or more", low=distance(ring.low))
    return gettext("%(low)s to %(high)s", low=distance(ring.low), high=distance(ring.high))


RING_BY_KEY = {ring.key: ring for ring in RINGS}


def hour_name(hour: int) -> str:
    """A posting hour as a span of the shop's clock: "18:00–19:00"."""
    start, end = (format_time(time(h % 24), "HH:mm", locale=get_locale()) for h in (hour, hour + 1))
    return gettext("%(start)s–%(end)s", start=start, end=end)


def csv_figure(shown: int) -> str:
    """A coarse figure in a cell: the number, or "<20" when too few to show."""
    return str(shown) if shown else f"<{privacy.FEW}"


def funnel_csv(shop: dict[str, Any], funnel: dict[str, Any]) -> str:
    """One row an offer: what it was, when it was posted (the shop's clock) and its funnel. The
    headings in the page's language; figures as the merchant may see them (domain/privacy.py)."""
    zone = shop_zone(shop.get("timezone"))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([gettext("Offer"), gettext("Title"), gettext("Posted at"), gettext("Time zone"), gettext("Status"),
                     gettext("Quantity"), *(str(STAGE_NAMES[stage]) for stage in STAGES)])
    for offer in funnel["offers"]:
        posted = offer["created_at"].astimezone(zone).replace(microsecond=0).isoformat()
        writer.writerow([offer["id"], _cell(offer["title"]), posted, zone.key, offer["status"], offer["quantity"],
                         *(csv_figure(offer[stage]) for stage in STAGES)])
    return out.getvalue()


def _cell(text: str) -> str:
    """A spreadsheet runs a cell that starts with = + - @ (or a tab or CR) as a formula: a title
    is shown as text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def funnel_words() -> dict[str, Any]:
    """What _funnel.html needs besides the figures."""
    return {"funnel_stages": STAGES, "stage_names": STAGE_NAMES, "ring_name": ring_name, "ring_by_key": RING_BY_KEY,
            "hour_name": hour_name}
