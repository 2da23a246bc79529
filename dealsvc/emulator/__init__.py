"""The built-in FCM emulator: an FCM-HTTP-v1-compatible endpoint, so development and tests need no Google account."""
from __future__ import annotations

from .blueprint import FAULT_RESPONSES, create_blueprint
from .server import RedactingRequestHandler, make_app
from .store import FAULT_KINDS, TOKEN_PREFIX_FAULTS, EmulatorStore, Fault, Received
from .validation import MAX_PAYLOAD_BYTES, MAX_TTL_SECONDS, payload_bytes

__all__ = [
    "FAULT_KINDS",
    "FAULT_RESPONSES",
    "MAX_PAYLOAD_BYTES",
    "MAX_TTL_SECONDS",
    "TOKEN_PREFIX_FAULTS",
    "EmulatorStore",
    "Fault",
    "Received",
    "RedactingRequestHandler",
    "create_blueprint",
    "make_app",
    "payload_bytes",
]
