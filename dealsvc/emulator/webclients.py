"""The emulator's channel to an open web app (development only): a registration token for the
app, and each push accepted for it in the shape a browser's service worker receives from FCM.

The web app asks `POST {prefix}/api/web-clients` for a token, registers it as its `fcm_token`,
then polls `GET {prefix}/api/web-clients/<token>/messages?after=<seq>` and hands each payload to
its service worker as the push event's data, which shows it as a real push would be shown."""
from __future__ import annotations

import hashlib
import secrets
from typing import Any

from .store import Received, prefix_fault


def new_token() -> str:
    """A token shaped like an FCM registration token ("<22 characters>:APA91b<...>"), never one
    whose prefix asks the emulator for a fault."""
    while True:
        token = f"{secrets.token_urlsafe(16)[:22]}:APA91b{secrets.token_urlsafe(105)}"
        if prefix_fault(token) is None:
            return token


def sender_id(project: str) -> str:
    """The sender a payload comes "from". Real FCM gives the project's number (the web config's
    messagingSenderId); the emulator knows only the project id and stands in 12 digits for it."""
    return str(int.from_bytes(hashlib.sha256(project.encode("utf-8")).digest()[:8], "big") % 10**12).zfill(12)


def browser_payload(received: Received) -> dict[str, Any]:
    """What a service worker's push event carries (`event.data.json()`) for a message FCM sent
    to a browser, as the Firebase JS SDK reads it:

        {
          "notification": {"title", "body", "tag", "image"?, ...},  # absent for data only
          "data": {"<key>": "<string>", ...},
          "fcmOptions": {"link": "https://..."},                   # only with a link
          "from": "<the project's sender id>",
          "collapse_key": "<the webpush Topic, or do_not_collapse>",
          "fcmMessageId": "<the message's id, the last part of its name>"
        }

    `notification` is the message's webpush.notification over its notification (a field of the
    former wins); `data` is webpush.data when the message has one, otherwise its data."""
    message = received.message
    webpush = message.get("webpush") or {}
    notification = {**(message.get("notification") or {}), **(webpush.get("notification") or {})}
    headers = {key.lower(): value for key, value in (webpush.get("headers") or {}).items()}
    payload: dict[str, Any] = {}
    if notification:
        payload["notification"] = notification
    payload["data"] = dict(webpush.get("data") or message.get("data") or {})
    link = (webpush.get("fcm_options") or {}).get("link")
    if link:
        payload["fcmOptions"] = {"link": link}
    payload["from"] = sender_id(received.project)
    payload["collapse_key"] = headers.get("topic") or "do_not_collapse"
    payload["fcmMessageId"] = received.id
    return payload
