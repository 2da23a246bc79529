"""The FCM emulator's phone inbox: what each token received, as a phone's notification list."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from ..emulator import EmulatorStore
from .common import page, protect

bp = protect(Blueprint("inbox_pages", __name__, url_prefix="/emulator"))


def _store() -> EmulatorStore:
    return current_app.extensions["fcm-emulator"]


def _collapse_key(message: dict[str, Any]) -> str | None:
    return (message.get("android") or {}).get("collapse_key") or (
        (message.get("apns") or {}).get("headers") or {}
    ).get("apns-collapse-id")


def phones() -> list[dict[str, Any]]:
    """Per token, its notifications newest first. A message under the collapse key of an
    earlier one replaces it, as on a phone; a data message of type "withdrawn" marks it gone."""
    by_token: dict[str, list[dict[str, Any]]] = {}
    for received in _store().messages():
        message = received.message
        data = message.get("data") or {}
        key = _collapse_key(message)
        shown = by_token.setdefault(received.token, [])
        at = received.received_at.isoformat(timespec="seconds").replace("+00:00", "Z")
        earlier = next((n for n in shown if key and n["collapse_key"] == key), None)
        if data.get("type") == "withdrawn":
            if earlier is not None:
                earlier["withdrawn"] = True
                earlier["withdrawn_at"] = at
            continue
        notification = message.get("notification") or {}
        item = {
            "title": notification.get("title") or data.get("title"),  # None: a data message (the page says so)
            "body": notification.get("body") or "",
            "received_at": at,
            "collapse_key": key,
            "offer_id": data.get("offer_id"),
            "withdrawn": False,
            "withdrawn_at": None,
        }
        if earlier is not None:
            shown.remove(earlier)
        shown.append(item)
    out = [
        {"token": token, "notifications": list(reversed(items))}
        for token, items in by_token.items() if items
    ]
    out.sort(key=lambda p: p["notifications"][0]["received_at"], reverse=True)
    return out


@bp.get("/")
def home():
    return page("web/inbox.html")


@bp.get("/inbox.json")
def inbox():
    return jsonify({"phones": phones()})
