"""Prometheus metrics of the service, shared by the web app and the workers."""
from __future__ import annotations

from prometheus_client import Counter, Histogram

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
    "deferred (quiet hours), dropped (offer or resident no longer active)",
    ["outcome"],
)
FANOUT_MATCH_SECONDS = Histogram(
    "dealsvc_fanout_match_seconds",
    "Time to find the residents an offer reaches",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1),
)
