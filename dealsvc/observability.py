"""Prometheus metrics of the service, shared by the web app and the workers."""
from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values

from config import SettingsError

# With DEALSVC_METRICS_DIR (multiprocess mode) every sample below lives in a file of that
# directory and /metrics adds up every process's files. Counters and histograms need nothing
# more; a Gauge must say how processes combine (multiprocess_mode="livesum", "max", ...), and
# Info, Enum and custom collectors are not supported there.

HTTP_REQUESTS = Counter(
    "dealsvc_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "dealsvc_http_request_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PUSH_OUTCOMES = Counter(
    "dealsvc_push_outcomes_total",
    "Pushes by outcome: sent, retry, dead_token, dead_letter, suppressed (caps, quiet hours), "
    "deferred (quiet hours), dropped (offer or resident no longer active), held (given back to "
    "the outbox unspent: FCM failing for everyone, refusing our credentials, or a shutdown), "
    "token_stale (in reach, but the app has not presented its token for 60 days: not pushed to)",
    ["outcome"],
)
PUSH_BREAKER_OPEN = Gauge(
    "dealsvc_push_breaker_open",
    "1 while a dispatcher has stopped sending because FCM fails for everyone (its circuit breaker "
    "is open or probing), else 0; the highest over the live dispatchers",
    multiprocess_mode="livemax",
)
PUSH_BREAKER_TRIPS = Counter(
    "dealsvc_push_breaker_trips_total",
    "Times a dispatcher stopped sending because FCM failed for everyone, by cause: transient "
    "(503, 429, 500, timeouts) or auth (401/403: FCM refuses the service's credentials)",
    ["cause"],
)
PUSH_AUTH_FAILURES = Counter(
    "dealsvc_push_auth_failures_total",
    "FCM answers refusing the service's credentials (401 UNAUTHENTICATED, 403 PERMISSION_DENIED): "
    "the pushes are held, not lost; alert on any increase",
)
FANOUT_MATCH_SECONDS = Histogram(
    "dealsvc_fanout_match_seconds",
    "Time to find the residents an offer reaches",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1),
)


def multiprocess_enabled() -> bool:
    """Whether prometheus_client keeps this process's samples in files (it decided on import)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def require_multiprocess(metrics_dir: Path | None) -> None:
    """Fail at start, not with wrong figures, when DEALSVC_METRICS_DIR is set but prometheus_client
    was imported before config.export_metrics_environment() ran in this process."""
    if metrics_dir is not None and not multiprocess_enabled():
        raise SettingsError(
            f"DEALSVC_METRICS_DIR is {str(metrics_dir)!r}, but prometheus_client was imported before "
            "config.export_metrics_environment(): this process would count in memory only. Start it "
            "as `gunicorn --config deploy/gunicorn.conf.py wsgi:app` or `python -m workers.<name>`."
        )


def render_all_processes(metrics_dir: Path) -> bytes:
    """Every process's samples in metrics_dir, added up, in the Prometheus text format. A fresh
    registry each time: one holding this process's own metrics would list them twice."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))
    return generate_latest(registry)


def mark_process_dead(pid: int, metrics_dir: Path | None) -> None:
    """A process of the deployment has exited: its "live" gauges leave the sums. Its counters and
    histograms stay, so that totals never go backwards until the next deployment."""
    if metrics_dir is not None:
        multiprocess.mark_process_dead(pid, str(metrics_dir))
