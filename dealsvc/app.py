"""The Flask application factory."""
from __future__ import annotations

import logging

from flask import Flask, abort, request

from config import Settings, SettingsError, is_loopback

from . import observability
from .api import admin, audit, funnel, merchants, notifications, offers, photos, reservations, subscribers
from .api.common import refuse_unstorable_ids
from .api.limits import install_request_limits
from .api.problems import Api, register_error_handlers
from .api.service import bp as service_bp
from .api.service import install_request_metrics
from .bootstrap import Container, bootstrap
from .embedded import EmbeddedWorkers
from .web import register_pages
from .web.security import security_headers

API_DESCRIPTION = """Neighbourhood shops post surplus food at 40–60 % off; residents nearby get a push.

Authenticate with `Authorization: Bearer <secret>`: the operator token, a merchant's `api_key`,
or a subscriber's `secret`. Errors are `application/problem+json`."""


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    *,
    start_workers: bool | None = None,
) -> Flask:
    """The web app. Workers run inside it in embedded mode, unless the caller brought its own
    container (tests drive the dispatcher themselves) or says otherwise."""
    if start_workers is None:
        start_workers = container is None
    settings = settings or (container.settings if container else Settings.from_env())
    container = container or bootstrap(settings)

    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        API_TITLE=settings.brand,
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="v1/openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/docs/assets/",
        API_SPEC_OPTIONS={
            "info": {"description": API_DESCRIPTION},
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}
            },
        },
    )
    app.extensions["dealsvc"] = container

    api = Api(app)
    for module in (merchants, offers, photos, funnel, reservations, subscribers, notifications, admin, audit):
        api.register_blueprint(module.blp)
    app.register_blueprint(service_bp)
    app.register_blueprint(photos.media)
    # Multiprocess mode (DEALSVC_METRICS_DIR): refuse to start counting in memory only.
    observability.require_multiprocess(settings.metrics_dir)
    if settings.emulator_enabled:
        from .emulator import EmulatorStore, create_blueprint

        app.extensions["fcm-emulator"] = store = EmulatorStore()
        app.register_blueprint(create_blueprint(store, url_prefix="/emulator"))
        if settings.emulator_loopback_only:
            _emulator_for_loopback_clients_only(app)
    logging.getLogger(__name__).info("%s", settings.emulator_status)
    if settings.web_push_warning:
        logging.getLogger(__name__).warning("%s", settings.web_push_warning)
    register_pages(app, settings)
    register_error_handlers(app)
    app.url_value_preprocessor(refuse_unstorable_ids)
    install_request_metrics(app)
    photos.install_upload_limit(app, settings)
    install_request_limits(app, settings)
    app.after_request(security_headers)
    if start_workers and settings.workers == "embedded":
        if settings.push_target_missing:
            raise SettingsError(settings.push_target_missing)
        app.extensions["dealsvc-workers"] = EmbeddedWorkers(container).start()
    logging.getLogger(__name__).info("dealsvc ready on %s", settings.database_url.split("@")[-1])
    return app


def _emulator_for_loopback_clients_only(app: Flask) -> None:
    """The emulator shows every token and push and takes faults: in the default set-up it answers
    only clients on this machine (a proxy's client, once ProxyFix has named it, is not one)."""

    @app.before_request
    def _loopback_only():
        if request.path == "/emulator" or request.path.startswith("/emulator/"):
            if not (request.remote_addr and is_loopback(request.remote_addr)):
                abort(404)
