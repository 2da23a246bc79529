"""The FCM emulator's HTTP face: FCM's v1 send endpoint, and a small API to inspect it and inject faults."""
from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, request

from .store import FAULT_KINDS, EmulatorStore, Fault
from .validation import Violation, guess_recipient, parse_json, validate_send_request

log = logging.getLogger(__name__)

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"

# kind → (HTTP status, canonical status, FCM errorCode, message), as FCM answers them.
FAULT_RESPONSES: dict[str, tuple[int, str, str, str]] = {
    "unregistered": (404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    "invalid": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"),
    "mismatch": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
    "unavailable": (503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
    "quota": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for sending messages to this target."),
    "internal": (500, "INTERNAL", "INTERNAL", "Internal error encountered."),
    # A message FCM refuses for its content, not its token: the sender's bug, never retried.
    "bad_request": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid value at 'message.data'"),
}
assert set(FAULT_RESPONSES) == set(FAULT_KINDS)

FAULT_REQUEST_FIELDS = {"token", "fault", "times", "retry_after"}


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

        fault = store.begin_attempt(send_request.recipient)
        if fault is not None:
            log.info("fcm emulator: answering %s for a %s (injected)", fault.kind, send_request.target)
            return fault_response(fault, send_request.target)
        if send_request.validate_only:
            # FCM's dry runs answer with this fixed name.
            return _json({"name": f"projects/{project}/messages/fake_message_id"})
        received = store.record(send_request.recipient, project, send_request.message)
        log.info("fcm emulator: accepted %s for a %s", received.id, send_request.target)
        return _json({"name": received.name})

    @bp.post("/api/faults")
    def set_fault() -> Response:
        try:
            body = json.loads(request.get_data(cache=False).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _problem(400, "The body must be a JSON object.")
        if not isinstance(body, dict):
            return _problem(400, "The body must be a JSON object.")
        errors: dict[str, list[str]] = {}
        for key in body.keys() - FAULT_REQUEST_FIELDS:
            errors[key] = ["Unknown field."]
        token = body.get("token")
        if not isinstance(token, str) or not token:
            errors["token"] = ["Required: a non-empty string."]
        kind = body.get("fault")
        if kind is not None and kind not in FAULT_KINDS:
            errors["fault"] = [f"One of {', '.join(FAULT_KINDS)}, or null to clear."]
        times = body.get("times")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            errors["times"] = ["A positive integer, or null for every time."]
        retry_after = body.get("retry_after")
        if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0):
            errors["retry_after"] = ["A non-negative integer of seconds."]
        if errors:
            return _problem(400, "The fault request is not valid.", errors)
        fault = store.set_fault(token, kind, times=times, retry_after=retry_after)
        state = fault.to_json() if fault else {"fault": None, "times": None, "retry_after": None}
        return _json({"token": token, **state})

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

    return bp
