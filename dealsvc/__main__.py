"""`python -m dealsvc run`: migrate, print where to go and the operator token, then serve.

What would stop the start (a port in use, a database that does not exist, no FCM to push to) is
found first and said in one line, before the banner and the migration."""
from __future__ import annotations

import argparse
import sys

from config import Settings, SettingsError

from . import logs
from .serving import pages, refuse, serve, serve_problem


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
                *(f"  {what + ':':<15} {url}" for what, url in pages(settings)),
                f"  API:            {base}/api/v1/",
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
    serve(settings, args.workers, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
