"""A Flask app serving only the FCM emulator, and a request log that keeps FCM tokens out of it."""
from __future__ import annotations

import re

from flask import Flask
from werkzeug.serving import WSGIRequestHandler

from .blueprint import create_blueprint
from .store import EmulatorStore

EXTENSION_KEY = "fcm_emulator"


def make_app(store: EmulatorStore | None = None) -> Flask:
    """The emulator alone at /emulator; its store is `app.extensions["fcm_emulator"]`."""
    store = store if store is not None else EmulatorStore()
    app = Flask(__name__)
    app.extensions[EXTENSION_KEY] = store
    app.register_blueprint(create_blueprint(store))

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


class RedactingRequestHandler(WSGIRequestHandler):
    """Werkzeug's access log, minus query strings and web clients' tokens: `?token=` or
    `/web-clients/<token>/` would put personal data in the log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        saved = {name: getattr(self, name) for name in ("path", "requestline") if hasattr(self, name)}
        for name, value in saved.items():
            if redact(value) != value:
                setattr(self, name, redact(value))
        try:
            super().log_request(code, size)
        finally:
            for name, value in saved.items():
                setattr(self, name, value)


_WEB_CLIENT_TOKEN = re.compile(r"(/web-clients/)[^/?#\s]+")


def redact(text: str) -> str:
    """A path or request line ("GET /path?query HTTP/1.1") without its query string and with a
    web client's token (`/emulator/api/web-clients/<token>/messages`) replaced by "…"."""
    head, question, tail = text.partition("?")
    head = _WEB_CLIENT_TOKEN.sub(r"\1…", head)
    if not question:
        return head
    _, space, version = tail.partition(" ")
    return f"{head}?…{space}{version}"
