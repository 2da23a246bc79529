"""gunicorn's settings for production: `gunicorn --config deploy/gunicorn.conf.py wsgi:app`
(the Procfile's web process and deploy/systemd/dealsvc-web.service).

No --preload: the app opens its database pool when it is built, and a pool must not be shared
by forked workers; each worker builds its own app.

With DEALSVC_METRICS_DIR, the workers (and the dispatchers and the scheduler) write their
Prometheus samples in that directory and /metrics serves their sum. This file exports what
prometheus_client needs to the workers and tells it when one exits; it never empties the
directory: a restart of the web alone (a crash, `systemctl restart dealsvc-web`) would erase the
live files of the dispatchers and the scheduler. The deployment empties it before any process
starts (dealsvc-migrate.service's RuntimeDirectory=; see deploy/dealsvc.env.example).
"""
import sys

from config import Settings, SettingsError, export_metrics_environment
from dealsvc.logs import logger_levels

try:
    _settings = Settings.from_env()
except SettingsError as _problem:
    # One line, not gunicorn's traceback of this file: what is wrong and which variable to set.
    print(f"dealsvc: {_problem}", file=sys.stderr, flush=True)
    raise SystemExit(2)
# Inherited by every worker gunicorn forks, before it imports wsgi (and prometheus_client).
_metrics_dir = export_metrics_environment(_settings)

# Several processes, a few threads each: requests are short database round trips.
workers = 4
threads = 4
# SIGTERM (systemd's stop, the Procfile runner's stop): stop accepting, finish what is in
# flight for up to this long, then exit 0. The units' TimeoutStopSec is a little longer.
graceful_timeout = 30
timeout = 30
keepalive = 5
# Whatever nginx passes on (deploy/nginx/dealsvc.conf answers more itself, in the service's
# format): a request line of up to 8 KB (8190 is gunicorn's largest; its default, 4094, answered
# the lines in between with its own HTML 414), and headers of up to 4 x 8 KB, any number of them,
# plus the address nginx appends to X-Forwarded-For (gunicorn's defaults: 8190 bytes a header,
# 100 headers, answered above with its HTML 431).
limit_request_line = 8190
limit_request_field_size = 65536
limit_request_fields = 32768
# Workers start afresh now and then, so that nothing a process grows lives for ever.
max_requests = 20_000
max_requests_jitter = 2_000
# Heartbeat files in memory, not on a disk that a container or ProtectSystem makes read-only.
worker_tmp_dir = "/dev/shm"
# No control socket (gunicorn 25+ opens one in $HOME/.gunicorn/ by default, one path for every
# gunicorn of the user, in a home ProtectHome= hides): signals do what we need (HUP reloads,
# TERM stops gracefully, TTIN/TTOU add or remove a worker).
control_socket_disable = True

# The access log without query strings: /api/v1/deals?lat=&lon= is where a resident stands,
# and the emulator's inbox is asked by FCM token.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'
# ... and without the FCM token in the path of the built-in emulator's web clients.
logger_class = "dealsvc.access_log.AccessLogger"

# The application's own log lines (dealsvc.*) next to gunicorn's, on stderr, at
# DEALSVC_LOG_LEVEL; without this, gunicorn leaves them unconfigured and INFO is lost.
loglevel = "info"
logconfig_dict = {
    "root": {"level": _settings.log_level, "handlers": ["error_console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False, "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False, "qualname": "gunicorn.access"},
        # Alembic announces its plugins in every worker that imports it; the schema is migrated elsewhere.
        "alembic": {"level": "WARNING"},
        # APScheduler (embedded workers) at DEALSVC_APSCHEDULER_LOG_LEVEL (WARNING), as in every process.
        **{name: {"level": level} for name, level in logger_levels(_settings).items()},
    },
}


def child_exit(server, worker):
    """In the master, once a worker has exited (max_requests, HUP, a crash): its "live" gauges
    leave the sums; its counters and histograms stay, so totals never go backwards."""
    if _metrics_dir is not None:
        # Only the multiprocess module, not dealsvc: the master builds no app and holds no metrics.
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, str(_metrics_dir))
