"""Liveness, readiness, metrics and the docs page's assets."""
from __future__ import annotations

import time
from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, g, request, send_from_directory
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..observability import HTTP_LATENCY, HTTP_REQUESTS, render_all_processes
from ..domain.i18n import Text
from .common import services
from .problems import problem

bp = Blueprint("service", __name__)
SWAGGER_ASSETS = Path(flask_swagger_ui.__file__).resolve().parent / "dist"


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    try:
        services().db.ping()
    except Exception:  # any failure to answer means not ready
        return problem(503, Text("The database does not answer."), headers={"Retry-After": "5"})
    return {"status": "ready"}


@bp.get("/metrics")
def metrics():
    metrics_dir = services().settings.metrics_dir
    if metrics_dir is not None:
        # Multiprocess mode: the samples every process of the deployment wrote, added up (this
        # worker's own registry would show the worker that answers, alone).
        return Response(render_all_processes(metrics_dir), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/api/docs/assets/<path:name>")
def docs_assets(name: str):
    # Swagger UI is served from the installed package: the docs page works offline.
    return send_from_directory(SWAGGER_ASSETS, name, max_age=3600)


def install_request_metrics(app) -> None:
    @app.before_request
    def _start():
        g._started = time.perf_counter()

    @app.after_request
    def _count(response):
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        started = g.pop("_started", None)
        if started is not None:
            HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        return response
