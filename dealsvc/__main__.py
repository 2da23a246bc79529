"""`python -m dealsvc run`: migrate, print where to go and the operator token, then serve."""
from __future__ import annotations

import argparse
import logging
import sys

from config import Settings, SettingsError


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
        print(f"dealsvc cannot start: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .bootstrap import bootstrap

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
