"""The FCM emulator's HTTP face: FCM's v1 send endpoint, and a small API to inspect it and inject faults.

The API, under `{url_prefix}/api`:
- `GET /messages[?token=]`, `DELETE /messages` (forgets messages, counts and every fault),
  `GET /tokens`;
- `POST /faults` `{"token", "fault", "times", "retry_after"}`: one token's answers;
- `GET|PUT|DELETE /faults/global` `{"fault", "times", "retry_after", "delay_s"}`: FCM failing or
  slow for everyone (checked before each token's own fault). For example `{"fault":
  "unavailable"}` (503), `{"fault": "unavailable", "retry_after": 30}`, `{"fault":
  "unauthenticated"}` (401), `{"fault": "permission_denied"}` (403 PERMISSION_DENIED),
  `{"fault": "quota", "retry_after": 1000000000000000}` or `"retry_after": "Wed, 21 Oct 2037
  07:28:00 GMT"` (429; always with a Retry-After, 2 s unless given), `{"fault": "quota_bare"}`
  (429 without Retry-After), `{"fault": "no_name"}` (delivered, answered 200 without "name"),
  `{"fault": "html_502"}` (a proxy's HTML 502 page), `{"fault": "reset"}` (the connection dropped
  without an answer), `{"fault": "cut"}` (delivered, answered 200, the connection closed halfway
  through the body), `{"fault": "hang"}` (no answer until cleared), `{"fault": null, "delay_s": 3}` (every answer 3 s late). DELETE, or
  PUT `{"fault": null}`, restores normal service.

Web clients (an open web app that receives its pushes from here, see webclients.py):
- `POST /web-clients` → 201 `{"token"}`: a new registration token for the app;
- `GET /web-clients/<token>/messages?after=<seq>` → `{"instance", "messages": [{"seq", "payload"}]}`:
  every message accepted for the token after `seq` (default 0), oldest first, each as the browser's
  service worker receives it; an unknown token has none yet. `instance` names this run of the
  emulator: seqs start again at 1 after a restart, so a client whose instance changed asks again
  from 0.

Faults: "fault" is one of FAULT_KINDS (store.py), "times" how many answers (null: until
cleared), "retry_after" the Retry-After header to send: seconds (any non-negative integer) or an
HTTP-date string.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import struct
import time
from typing import Any

from flask import Blueprint, Response, request

from .store import ERROR_FAULT_KINDS, FAULT_KINDS, EmulatorStore, Fault, check_delay, check_retry_after
from .validation import Violation, guess_recipient, parse_json, validate_send_request
from .webclients import browser_payload, new_token

log = logging.getLogger(__name__)

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"

# kind → (HTTP status, canonical status, FCM errorCode, message), as FCM answers them.
FAULT_RESPONSES: dict[str, tuple[int, str, str | None, str]] = {
    "unregistered": (404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    "invalid": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"),
    "mismatch": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
    "unavailable": (503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
    "quota": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for sending messages to this target."),
    # The same 429 without a Retry-After (unless one is given): the sender picks its own backoff.
    "quota_bare": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for sending messages to this target."),
    "internal": (500, "INTERNAL", "INTERNAL", "Internal error encountered."),
    # A message FCM refuses for its content, not its token: the sender's bug, never retried.
    "bad_request": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid value at 'message.data'"),
    # The sender's credentials, not the message: a revoked key, a disabled API.
    "unauthenticated": (
        401, "UNAUTHENTICATED", None,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
        "valid authentication credential.",
    ),
    "permission_denied": (
        403, "PERMISSION_DENIED", None,
        "Firebase Cloud Messaging API has not been used in this project before or it is disabled.",
    ),
}
assert set(FAULT_RESPONSES) == set(ERROR_FAULT_KINDS)

FAULT_REQUEST_FIELDS = {"token", "fault", "times", "retry_after"}
GLOBAL_FAULT_REQUEST_FIELDS = {"fault", "times", "retry_after", "delay_s"}


def fcm_error(
    http_status: int,
    status: str,
    message: str,
    error_code: str | None,
    violations: list[tuple[str, str]] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    """An error body exactly as FCM's v1 API shapes it (firebase-admin reads `details` for errorCode)."""
    details: list[dict[str, Any]] = []
    if error_code:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": error_code})
    if violations:
        details.append(
            {"@type": BAD_REQUEST_TYPE, "fieldViolations": [{"field": f, "description": d} for f, d in violations]}
        )
    body = {"error": {"code": http_status, "message": message, "status": status, "details": details}}
    return _json(body, http_status, headers)


def fault_response(fault: Fault, target: str) -> Response:
    http_status, status, error_code, message = FAULT_RESPONSES[fault.kind]
    violations = {
        "invalid": [(f"message.{target}", message)],
        "bad_request": [("message.data", message)],
    }.get(fault.kind, [])
    headers = {}
    if fault.effective_retry_after is not None:
        headers["Retry-After"] = str(fault.effective_retry_after)
    return fcm_error(http_status, status, message, error_code, violations, headers)


HTML_502 = (
    "<!DOCTYPE html>\n<html lang=en><title>Error 502 (Server Error)!!1</title>"
    "<p><b>502.</b> <ins>That's an error.</ins><p>The server encountered a temporary error and could not "
    "complete your request.<p>Please try again in 30 seconds. <ins>That's all we know.</ins></html>\n"
)


def _reset_connection() -> Response:
    """Drop the client's connection with no answer: a TCP reset (SO_LINGER 0, then the socket
    shut) where the WSGI server exposes the socket (werkzeug's, gunicorn's); else a 503."""
    sock = request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")
    if sock is None:
        return fcm_error(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # The connection's descriptor is pointed at a pipe-like socket whose far end is gone: the
    # connection itself is closed at once (with SO_LINGER 0, a reset), and what the server then
    # writes fails as a dropped connection (EPIPE), which it takes quietly.
    dead, gone = socket.socketpair()
    gone.close()
    os.dup2(dead.fileno(), sock.fileno())
    dead.close()
    return Response(status=500)  # never arrives


def _cut_answer(body: bytes) -> Response:
    """A 200 whose body stops halfway: the status, the headers and half the body leave, then the
    connection is closed (the body is chunked, so the client knows it is short). Where the WSGI
    server does not expose the socket, the whole answer."""
    sock = request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")
    if sock is None:
        return Response(body, status=200, mimetype="application/json")

    def halfway():
        yield body[: len(body) // 2]
        # Closed in order (a FIN, not a reset), so the half already sent arrives before the end;
        # what the server writes next fails as a dropped connection, which it takes quietly.
        sock.shutdown(socket.SHUT_RDWR)

    return Response(halfway(), status=200, mimetype="application/json")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def _problem(status: int, detail: str, errors: dict[str, list[str]] | None = None) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": "Bad Request", "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def create_blueprint(store: EmulatorStore, url_prefix: str = "/emulator") -> Blueprint:
    """FCM at `{url_prefix}/fcm` (firebase-admin's base URL), the emulator's own API at `{url_prefix}/api`."""
    bp = Blueprint("fcm_emulator", __name__, url_prefix=url_prefix)

    @bp.post("/fcm/v1/projects/<project>/messages:send")
    def send(project: str) -> Response:
        # Every answer is built here, never raised, so that a host app's error handlers cannot
        # turn FCM's error bodies into something firebase-admin would not recognise.
        body: Any = None
        try:
            body = parse_json(request.get_data(cache=False))
            send_request = validate_send_request(body)
        except Violation as violation:
            recipient = guess_recipient(body)
            if recipient is not None:
                store.count_attempt(recipient)
            return fcm_error(
                400, "INVALID_ARGUMENT", violation.message, "INVALID_ARGUMENT", [(violation.field, violation.description)]
            )

        delay = store.delay_s()
        if delay:
            time.sleep(delay)
        fault = store.begin_attempt(send_request.recipient)
        if fault is not None:
            log.info("fcm emulator: answering %s for a %s (injected)", fault.kind, send_request.target)
            if fault.kind == "hang":
                store.hang()
                return fault_response(Fault("unavailable"), send_request.target)
            if fault.kind == "html_502":
                return Response(HTML_502, status=502, mimetype="text/html")
            if fault.kind == "reset":
                return _reset_connection()
            if fault.kind == "cut":
                received = store.record(send_request.recipient, project, send_request.message)
                return _cut_answer(json.dumps({"name": received.name}).encode())
            if fault.kind == "no_name":
                # Accepted and delivered, but answered without FCM's body (no "name").
                store.record(send_request.recipient, project, send_request.message)
                return _json({})
            return fault_response(fault, send_request.target)
        if send_request.validate_only:
            # FCM's dry runs answer with this fixed name.
            return _json({"name": f"projects/{project}/messages/fake_message_id"})
        received = store.record(send_request.recipient, project, send_request.message)
        log.info("fcm emulator: accepted %s for a %s", received.id, send_request.target)
        return _json({"name": received.name})

    def _read_object() -> dict | None:
        try:
            body = json.loads(request.get_data(cache=False).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        return body if isinstance(body, dict) else None

    def _fault_errors(body: dict, fields: set[str]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for key in body.keys() - fields:
            errors[key] = ["Unknown field."]
        kind = body.get("fault")
        if kind is not None and kind not in FAULT_KINDS:
            errors["fault"] = [f"One of {', '.join(FAULT_KINDS)}, or null to clear."]
        times = body.get("times")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            errors["times"] = ["A positive integer, or null for every time."]
        retry_after = body.get("retry_after")
        if retry_after is not None:
            try:
                check_retry_after(retry_after)
            except ValueError:
                errors["retry_after"] = ["A non-negative integer of seconds, or an HTTP-date."]
        if "delay_s" in fields and body.get("delay_s") is not None:
            try:
                check_delay(body["delay_s"])
            except ValueError as error:
                errors["delay_s"] = [str(error)]
        return errors

    @bp.post("/api/faults")
    def set_fault() -> Response:
        body = _read_object()
        if body is None:
            return _problem(400, "The body must be a JSON object.")
        errors = _fault_errors(body, FAULT_REQUEST_FIELDS)
        token = body.get("token")
        if not isinstance(token, str) or not token:
            errors["token"] = ["Required: a non-empty string."]
        if errors:
            return _problem(400, "The fault request is not valid.", errors)
        kind, times, retry_after = body.get("fault"), body.get("times"), body.get("retry_after")
        fault = store.set_fault(token, kind, times=times, retry_after=retry_after)
        state = fault.to_json() if fault else {"fault": None, "times": None, "retry_after": None}
        return _json({"token": token, **state})

    @bp.get("/api/faults/global")
    def get_global_fault() -> Response:
        return _json(store.global_fault())

    @bp.put("/api/faults/global")
    def set_global_fault() -> Response:
        body = _read_object()
        if body is None:
            return _problem(400, "The body must be a JSON object.")
        errors = _fault_errors(body, GLOBAL_FAULT_REQUEST_FIELDS)
        if errors:
            return _problem(400, "The fault request is not valid.", errors)
        state = store.set_global_fault(
            body.get("fault"), times=body.get("times"), retry_after=body.get("retry_after"), delay_s=body.get("delay_s")
        )
        log.info("fcm emulator: global fault now %s, delay %.1f s", state["fault"], state["delay_s"])
        return _json(state)

    @bp.delete("/api/faults/global")
    def clear_global_fault() -> Response:
        store.set_global_fault(None)
        return Response(status=204)

    @bp.get("/api/messages")
    def list_messages() -> Response:
        token = request.args.get("token")
        return _json({"items": [m.to_json() for m in store.messages(token)]})

    @bp.delete("/api/messages")
    def clear() -> Response:
        store.clear()
        return Response(status=204)

    @bp.get("/api/tokens")
    def list_tokens() -> Response:
        return _json({"items": store.tokens()})

    @bp.post("/api/web-clients")
    def new_web_client() -> Response:
        return _json({"token": new_token()}, 201)

    @bp.get("/api/web-clients/<token>/messages")
    def web_client_messages(token: str) -> Response:
        after = request.args.get("after", "0")
        if not (after.isascii() and after.isdigit() and len(after) <= 18):
            return _problem(400, "after must be the seq of the last message received (0 or more).",
                            {"after": ["A whole number, 0 or more."]})
        messages = store.messages(token, after=int(after))
        return _json({"instance": store.instance,
                      "messages": [{"seq": m.seq, "payload": browser_payload(m)} for m in messages]})

    return bp
