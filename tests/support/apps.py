"""One Flask app per shape of settings for the whole test process, given each test's container.

Building the app (its blueprints, the OpenAPI document flask-smorest derives from the schemas,
the compiled URL rules) costs about 0.1 s of CPU; the container it serves costs a few ms. A test
therefore gets a fresh container as always, and the app built for the first test with the same
settings, its per-run state put back as new: the container it serves, the rate limiter's counts
and the FCM emulator's messages and faults. The pages' secret key is the first test's.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from flask import Flask

from config import Settings
from dealsvc.app import create_app

# What the app does not read (the container, rebuilt for each test, does): where the service
# keeps its files, the port it would serve the emulator on, and where pushes go (the app only
# asks whether they go somewhere else than its emulator).
_VAR_DIR = Path("/nonexistent/shared-test-app")


def _shape(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, var_dir=_VAR_DIR, port=0,
        fcm_endpoint=None if settings.fcm_endpoint is None else "http://fcm.invalid/",
    )


_APPS: list[tuple[Settings, Flask]] = []


def shared_app(container) -> Flask:
    """The app of the container's settings, serving that container (no embedded workers: the
    tests drive them). Settings with Redis get an app of their own: resetting the limiter would
    empty counts other test processes keep in the same Redis."""
    settings = container.settings
    if settings.redis_url:
        return create_app(container=container)
    shape = _shape(settings)
    for known, app in _APPS:
        if known == shape:
            _renew(app, container)
            return app
    app = create_app(container=container)
    _APPS.append((shape, app))
    return app


def _renew(app: Flask, container) -> None:
    app.extensions["dealsvc"] = container
    limiter = app.extensions.get("dealsvc-rate-limits")
    if limiter is not None:
        limiter.reset()
    store = app.extensions.get("fcm-emulator")
    if store is not None:
        store.clear()  # releases any hung request first
        store.__init__(store._clock)  # a new run: its sequence from 1, a new instance id
