"""How `make run` and `make demo` start the service: what would stop a start, said in one line
before anything else happens, and the service under gunicorn."""
from __future__ import annotations

import errno
import socket
import sys

from config import Settings


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


def pages(settings: Settings) -> list[tuple[str, str]]:
    """What a person opens in a browser once the service runs, as the start banner lists them:
    (what it is, its URL). The phones' inbox only where the built-in FCM emulator is served."""
    base = f"http://{settings.host}:{settings.port}"
    return [
        ("shop page", f"{base}/shop/"),
        ("operator page", f"{base}/admin/"),
        ("residents' app", f"{base}/app/"),
        *([("phones (FCM emulator)", f"{base}/emulator/")] if settings.emulator_enabled else []),
        ("API docs", f"{base}/api/docs"),
    ]


def serve_problem(settings: Settings) -> str | None:
    """What would stop `make run` or `make demo` after its banner: the port, then (with the
    dispatcher inside) where pushes go."""
    return port_problem(settings.host, settings.port) or (
        settings.push_target_missing if settings.workers == "embedded" else None
    )


def serve(settings: Settings, workers: int, threads: int) -> None:
    """The service under gunicorn on DEALSVC_HOST:DEALSVC_PORT, until it is stopped."""
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
