"""Checks an FCM HTTP v1 send request the way FCM does, before anything is delivered."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..domain.nesting import nests_deeper_than

MAX_PAYLOAD_BYTES = 4096
MAX_TTL_SECONDS = 28 * 24 * 3600
MAX_APNS_COLLAPSE_ID_BYTES = 64
# protobuf's JSON parser, which FCM's API front end uses, stops at 100 levels.
MAX_JSON_DEPTH = 100

TARGETS = ("token", "fid", "topic", "condition")
BODY_FIELDS = {"message", "validate_only"}
MESSAGE_FIELDS = {"name", "data", "notification", "android", "webpush", "apns", "fcm_options", *TARGETS}
NOTIFICATION_FIELDS = {"title", "body", "image"}
ANDROID_FIELDS = {
    "collapse_key",
    "priority",
    "ttl",
    "restricted_package_name",
    "data",
    "notification",
    "fcm_options",
    "direct_boot_ok",
    "bandwidth_constrained_ok",
    "restricted_satellite_ok",
}
ANDROID_BOOLEANS = ("direct_boot_ok", "bandwidth_constrained_ok", "restricted_satellite_ok")
APNS_FIELDS = {"headers", "payload", "fcm_options", "live_activity_token"}
WEBPUSH_FIELDS = {"headers", "data", "notification", "fcm_options"}
FCM_OPTIONS_FIELDS = {"analytics_label"}

RESERVED_DATA_KEYS = {"from", "notification", "message_type"}
RESERVED_DATA_PREFIXES = ("google.", "gcm.")

# Matched with fullmatch: "$" would also accept a trailing newline, and "\d" non-ASCII digits.
_TTL = re.compile(r"(-?)([0-9]+)(?:\.([0-9]{1,9}))?s")
_TOPIC = re.compile(r"(?:/topics/)?[a-zA-Z0-9\-_.~%]+")
_ANALYTICS_LABEL = re.compile(r"[a-zA-Z0-9\-_.~%]{1,50}")
_UNIX_TIME = re.compile(r"[0-9]+")
# RFC 8030: TTL is delta-seconds, Urgency one of four words, Topic at most 32 characters of the
# URL- and filename-safe base64 alphabet. Push services refuse a push that breaks these.
_DELTA_SECONDS = re.compile(r"[0-9]{1,10}")
WEBPUSH_URGENCIES = ("very-low", "low", "normal", "high")
_WEBPUSH_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Web notification fields a browser reads as text (the rest of the object passes as FCM passes it).
WEBPUSH_NOTIFICATION_STRINGS = ("title", "body", "tag", "icon", "image", "badge", "lang", "dir")


class Violation(Exception):
    """A request FCM would refuse with 400 INVALID_ARGUMENT."""

    def __init__(self, field: str, description: str, message: str | None = None) -> None:
        super().__init__(description)
        self.field = field
        self.description = description
        self.message = message or description


@dataclass(frozen=True)
class SendRequest:
    message: dict[str, Any]
    validate_only: bool
    target: str  # which of TARGETS the message names
    recipient: str  # whom the emulator files it under


def recipient_of(message: dict[str, Any], target: str) -> str:
    value = message[target]
    if target == "topic":
        return value if value.startswith("/topics/") else f"/topics/{value}"
    return value


def guess_recipient(body: Any) -> str | None:
    """The token or installation id of a request, even an invalid one, so that it can be counted."""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, dict):
        return None
    for target in ("token", "fid"):
        if isinstance(message.get(target), str) and message[target]:
            return message[target]
    return None


def parse_json(raw: bytes) -> Any:
    """The body, or a Violation (FCM's 400 INVALID_ARGUMENT): not JSON, or nested deeper than
    FCM's JSON parser takes (json.loads itself raises RecursionError some 1,000 levels down,
    and whatever walks the message afterwards would do the same well before that)."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Violation("", f"Invalid JSON payload received. {exc}", "Invalid JSON payload received.") from None
    if nests_deeper_than(body, MAX_JSON_DEPTH):
        raise Violation(
            "", f"Invalid JSON payload received. Nested deeper than {MAX_JSON_DEPTH} levels.", "Invalid JSON payload received."
        )
    return body


def validate_send_request(body: Any) -> SendRequest:
    if not isinstance(body, dict):
        raise Violation("", "Invalid JSON payload received. Expected an object.")
    _no_unknown(body, BODY_FIELDS, "")
    validate_only = body.get("validate_only", False)
    if not isinstance(validate_only, bool):
        raise Violation("validate_only", f"Invalid value at 'validate_only' (TYPE_BOOL), {json.dumps(validate_only)}")
    message = body.get("message")
    if not isinstance(message, dict):
        raise Violation("message", "The message is missing or is not an object.")
    target = _validate_message(message)
    return SendRequest(message=message, validate_only=validate_only, target=target, recipient=recipient_of(message, target))


def _validate_message(message: dict[str, Any]) -> str:
    _no_unknown(message, MESSAGE_FIELDS, "message")
    targets = [t for t in TARGETS if message.get(t) is not None]
    if len(targets) != 1:
        named = ", ".join(targets) if targets else "none"
        raise Violation(
            "message",
            f"Exactly one of token, fid, topic or condition must be set; got {named}.",
            "Invalid value at 'message': exactly one of token, fid, topic or condition must be set.",
        )
    target = targets[0]
    value = message[target]
    if not isinstance(value, str) or not value:
        raise Violation(f"message.{target}", f"message.{target} must be a non-empty string.")
    if target == "topic" and not _TOPIC.fullmatch(value):
        raise Violation("message.topic", "Invalid topic name.")
    if message.get("name") is not None and not isinstance(message["name"], str):
        raise Violation("message.name", "message.name must be a string.")

    _string_map(message.get("data"), "message.data", data_keys=True)
    _notification(message.get("notification"), "message.notification")
    _android(message.get("android"))
    _apns(message.get("apns"))
    _webpush(message.get("webpush"))
    _fcm_options(message.get("fcm_options"), "message.fcm_options")

    size = payload_bytes(message)
    if size > MAX_PAYLOAD_BYTES:
        raise Violation(
            "message",
            f"The payload (data and notification keys and values) is {size} bytes; at most "
            f"{MAX_PAYLOAD_BYTES} are allowed.",
            "Android message is too big",
        )
    return target


def payload_bytes(message: dict[str, Any]) -> int:
    """FCM's 4096-byte budget: the UTF-8 keys and values of data and notification, Android overrides included."""
    android = message.get("android") if isinstance(message.get("android"), dict) else {}
    total = 0
    for part in (message.get("data"), message.get("notification"), android.get("data"), android.get("notification")):
        if isinstance(part, dict):
            for key, value in part.items():
                text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
                total += len(key.encode("utf-8")) + len(text.encode("utf-8"))
    return total


def _no_unknown(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in obj:
        if key not in allowed:
            at = f" at '{where}'" if where else ""
            raise Violation(where, f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.')


def _object(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Violation(where, f"Invalid value at '{where}': expected an object, got {json.dumps(value)[:100]}")
    return value


def _string(value: Any, where: str) -> None:
    if value is not None and not isinstance(value, str):
        raise Violation(where, f"Invalid value at '{where}' (TYPE_STRING), {json.dumps(value)[:100]}")


def _string_map(value: Any, where: str, data_keys: bool = False) -> None:
    mapping = _object(value, where)
    if mapping is None:
        return
    for key, item in mapping.items():
        if not isinstance(item, str):
            raise Violation(
                where,
                f"Invalid value at '{where}' for key \"{key}\" (TYPE_STRING), {json.dumps(item)[:100]}: "
                "values must be strings.",
            )
        if data_keys and (key in RESERVED_DATA_KEYS or key.startswith(RESERVED_DATA_PREFIXES)):
            raise Violation(where, f'Invalid data key "{key}": it is a reserved word.')


def _notification(value: Any, where: str) -> None:
    notification = _object(value, where)
    if notification is None:
        return
    _no_unknown(notification, NOTIFICATION_FIELDS, where)
    for key in NOTIFICATION_FIELDS:
        _string(notification.get(key), f"{where}.{key}")


def _fcm_options(value: Any, where: str) -> None:
    options = _object(value, where)
    if options is None:
        return
    _no_unknown(options, FCM_OPTIONS_FIELDS, where)
    label = options.get("analytics_label")
    _string(label, f"{where}.analytics_label")
    if label is not None and not _ANALYTICS_LABEL.fullmatch(label):
        raise Violation(f"{where}.analytics_label", "Invalid analytics label.")


def _android(value: Any) -> None:
    android = _object(value, "message.android")
    if android is None:
        return
    _no_unknown(android, ANDROID_FIELDS, "message.android")
    _string(android.get("collapse_key"), "message.android.collapse_key")
    _string(android.get("restricted_package_name"), "message.android.restricted_package_name")
    priority = android.get("priority")
    if priority is not None and (not isinstance(priority, str) or priority.upper() not in ("NORMAL", "HIGH")):
        raise Violation("message.android.priority", f"Invalid value at 'message.android.priority' (TYPE_ENUM), {json.dumps(priority)}")
    for key in ANDROID_BOOLEANS:
        if android.get(key) is not None and not isinstance(android[key], bool):
            raise Violation(f"message.android.{key}", f"Invalid value at 'message.android.{key}' (TYPE_BOOL), {json.dumps(android[key])}")
    if android.get("ttl") is not None:
        ttl_seconds(android["ttl"])
    _string_map(android.get("data"), "message.android.data", data_keys=True)
    _object(android.get("notification"), "message.android.notification")
    _fcm_options(android.get("fcm_options"), "message.android.fcm_options")


def ttl_seconds(value: Any) -> float:
    """A google.protobuf.Duration in JSON ("3600s", "1.5s"), as FCM accepts it for android.ttl."""
    where = "message.android.ttl"
    match = _TTL.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise Violation(where, f"Invalid value at '{where}' (type.googleapis.com/google.protobuf.Duration), {json.dumps(value)}")
    sign, whole, fraction = match.groups()
    seconds = int(whole) + (int(fraction.ljust(9, "0")) / 1e9 if fraction else 0.0)
    if sign and seconds > 0:
        raise Violation(where, f"The TTL must not be negative; got {value}.")
    if seconds > MAX_TTL_SECONDS:
        raise Violation(where, f"The TTL must be at most {MAX_TTL_SECONDS}s (28 days); got {value}.")
    return seconds


def _apns(value: Any) -> None:
    apns = _object(value, "message.apns")
    if apns is None:
        return
    _no_unknown(apns, APNS_FIELDS, "message.apns")
    _string_map(apns.get("headers"), "message.apns.headers")
    headers = apns.get("headers") or {}
    expiration = headers.get("apns-expiration")
    if expiration is not None and not _UNIX_TIME.fullmatch(expiration):
        raise Violation("message.apns.headers", f"apns-expiration must be a Unix time in seconds; got {expiration!r}.")
    priority = headers.get("apns-priority")
    if priority is not None and priority not in ("1", "5", "10"):
        raise Violation("message.apns.headers", f"apns-priority must be 1, 5 or 10; got {priority!r}.")
    collapse_id = headers.get("apns-collapse-id")
    if collapse_id is not None and len(collapse_id.encode("utf-8")) > MAX_APNS_COLLAPSE_ID_BYTES:
        raise Violation("message.apns.headers", f"apns-collapse-id must be at most {MAX_APNS_COLLAPSE_ID_BYTES} bytes.")
    _object(apns.get("payload"), "message.apns.payload")
    _fcm_options_apns(apns.get("fcm_options"))
    _string(apns.get("live_activity_token"), "message.apns.live_activity_token")


def _fcm_options_apns(value: Any) -> None:
    options = _object(value, "message.apns.fcm_options")
    if options is None:
        return
    _no_unknown(options, {"analytics_label", "image"}, "message.apns.fcm_options")
    _string(options.get("image"), "message.apns.fcm_options.image")
    _fcm_options({k: v for k, v in options.items() if k != "image"}, "message.apns.fcm_options")


def _webpush(value: Any) -> None:
    webpush = _object(value, "message.webpush")
    if webpush is None:
        return
    _no_unknown(webpush, WEBPUSH_FIELDS, "message.webpush")
    _string_map(webpush.get("headers"), "message.webpush.headers")
    _webpush_headers(webpush.get("headers") or {})
    _string_map(webpush.get("data"), "message.webpush.data", data_keys=True)
    notification = _object(webpush.get("notification"), "message.webpush.notification")
    for key in WEBPUSH_NOTIFICATION_STRINGS:
        _string((notification or {}).get(key), f"message.webpush.notification.{key}")
    options = _object(webpush.get("fcm_options"), "message.webpush.fcm_options")
    if options is not None:
        _no_unknown(options, {"link", "analytics_label"}, "message.webpush.fcm_options")
        link = options.get("link")
        _string(link, "message.webpush.fcm_options.link")
        if link is not None and not link.startswith("https://"):
            raise Violation("message.webpush.fcm_options.link", f"The link must be an HTTPS URL; got {link[:100]!r}.")
        _fcm_options({k: v for k, v in options.items() if k != "link"}, "message.webpush.fcm_options")


def _webpush_headers(headers: dict[str, str]) -> None:
    """The RFC 8030 headers FCM relays to the browser's push service (names are case-insensitive)."""
    where = "message.webpush.headers"
    named = {key.lower(): item for key, item in headers.items()}
    ttl = named.get("ttl")
    if ttl is not None:
        if not _DELTA_SECONDS.fullmatch(ttl):
            raise Violation(where, f"TTL must be a whole number of seconds; got {ttl!r}.")
        if int(ttl) > MAX_TTL_SECONDS:
            raise Violation(where, f"TTL must be at most {MAX_TTL_SECONDS} seconds (28 days); got {ttl}.")
    urgency = named.get("urgency")
    if urgency is not None and urgency not in WEBPUSH_URGENCIES:
        raise Violation(where, f"Urgency must be one of {', '.join(WEBPUSH_URGENCIES)}; got {urgency!r}.")
    topic = named.get("topic")
    if topic is not None and not _WEBPUSH_TOPIC.fullmatch(topic):
        raise Violation(where, f"Topic must be 1 to 32 characters of URL-safe base64; got {topic[:100]!r}.")
