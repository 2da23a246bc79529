"""`python -m dealsvc run`: migrate, print where to go and the operator token, then serve.

What would stop the start (a port in use, a database that does not exist, no FCM to push to) is
found first and said in one line, before the banner and the migration."""
from __future__ import annotations

import argparse
import errno
import socket
import sys

from config import Settings, SettingsError

from . import logs


def refuse(problem: str) -> int:
    """One line on stderr instead of a traceback, and the exit status of a failed start."""
    print(f"dealsvc: {problem}", file=sys.stderr, flush=True)
    return 1


def port_problem(host: str, port: int) -> str | None:
    """Why gunicorn could not listen on host:port (None: it can), naming the variable to set.
    Binds as gunicorn does (SO_REUSEADDR: a port left in TIME_WAIT is free) and lets go."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        return f"cannot listen on {host!r} ({exc}): set DEALSVC_HOST to an address of this machine (default 127.0.0.1)"
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"{host}:{port} is already in use (another `make run` or `make demo`?): set DEALSVC_PORT "
                        f"to a free port, e.g. DEALSVC_PORT={port + 1}")
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{host} is not an address of this machine: set DEALSVC_HOST (default 127.0.0.1)"
            if exc.errno == errno.EACCES:
                return f"port {port} needs privileges this user lacks: set DEALSVC_PORT to 1024 or above"
            return f"cannot listen on {host}:{port} ({exc.strerror}): set DEALSVC_HOST or DEALSVC_PORT"
    return None


def serve_problem(settings: Settings) -> str | None:
    """What would stop `make run` or `make demo` after its banner: the port, then (with the
    dispatcher inside) where pushes go."""
    return port_problem(settings.host, settings.port) or (
        settings.push_target_missing if settings.workers == "embedded" else None
    )


def _serve(settings: Settings, workers: int, threads: int) -> None:
    from gunicorn.app.base import BaseApplication

    from .app import create_app

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{settings.host}:{settings.port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", "-")
            # The path without its query string: the emulator's inbox is asked by token, and
            # FCM tokens stay out of logs.
            self.cfg.set("access_log_format", '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss')
            self.cfg.set("logger_class", "dealsvc.access_log.AccessLogger")
            self.cfg.set("graceful_timeout", 10)

        def load(self):
            return create_app(settings)

    Server().run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dealsvc")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="migrate and serve (gunicorn)")
    run.add_argument("--workers", type=int, default=1)
    run.add_argument("--threads", type=int, default=8)
    sub.add_parser("migrate", help="upgrade the database schema to the latest revision")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        return refuse(str(exc))
    logs.configure(settings)
    if args.command == "run" and (problem := serve_problem(settings)):
        return refuse(problem)
    from .bootstrap import bootstrap, database_problem

    if problem := database_problem(settings):
        return refuse(problem.message)
    container = bootstrap(settings, migrate_schema=True)
    if args.command == "migrate":
        print("database schema is up to date")
        return 0
    base = f"http://{settings.host}:{settings.port}"
    print(
        "\n".join(
            [
                "",
                "dealsvc is starting",
                f"  API:            {base}/api/v1/",
                f"  API docs:       {base}/api/docs",
                f"  OpenAPI:        {base}/api/v1/openapi.json",
                f"  health:         {base}/healthz",
                f"  metrics:        {base}/metrics",
                f"  database:       {settings.database_url.split('@')[-1]}",
                f"  workers:        {settings.workers}",
                *([f"  phones (FCM emulator): {base}/emulator/"] if settings.emulator_enabled else []),
                f"  operator token: {container.admin_token}",
                "",
            ]
        ),
        flush=True,
    )
    container.close()
    _serve(settings, args.workers, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
