"""A Flask app serving only the FCM emulator, and a request log that keeps FCM tokens out of it."""
from __future__ import annotations

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
    """Werkzeug's access log, minus query strings: `?token=` would put personal data in the log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        saved = {name: getattr(self, name) for name in ("path", "requestline") if hasattr(self, name)}
        for name, value in saved.items():
            if "?" in value:
                setattr(self, name, _without_query(value))
        try:
            super().log_request(code, size)
        finally:
            for name, value in saved.items():
                setattr(self, name, value)


def _without_query(text: str) -> str:
    head, _, tail = text.partition("?")
    _, space, version = tail.partition(" ")
    return f"{head}?…{space}{version}"
