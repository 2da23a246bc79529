"""gunicorn's access log without personal data in its paths: the built-in emulator's web clients
are asked for by FCM token (`/emulator/api/web-clients/<token>/messages`). Query strings are
already left out by the log format (`%(U)s`); this covers the request line too."""
from __future__ import annotations

from gunicorn.glogging import Logger

from .emulator.server import redact


class AccessLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("U", "r"):
            if isinstance(atoms.get(name), str):
                atoms[name] = redact(atoms[name])
        return atoms
