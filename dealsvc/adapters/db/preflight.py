"""One connection before a process starts, and what a failure means, in one line that says how
to fix it (instead of the driver's traceback)."""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import NullPool

from .session import normalize_url

CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class DatabaseProblem:
    message: str
    # True: someone must act (create the database, fix the URL), waiting will not help;
    # False: the server may be starting or briefly away (connection refused, a timeout).
    lasting: bool


def check_database(url: str) -> DatabaseProblem | None:
    """None when the database in `url` answers; otherwise what is wrong and how to fix it."""
    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError:
        return DatabaseProblem(f"DEALSVC_DATABASE_URL is not a database URL ({_redacted(url)}): e.g. postgresql://user@host:5432/dealsvc or sqlite:///var/dealsvc.db", True)
    if parsed.get_backend_name() == "sqlite":
        problem = _sqlite_directory(parsed)
        if problem:
            return problem
    try:
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if parsed.get_backend_name() == "postgresql" else {}
        engine = create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        return DatabaseProblem(f"DEALSVC_DATABASE_URL cannot be used ({_redacted(url)}): {exc}", True)
    try:
        with engine.connect():
            return None
    except DBAPIError as exc:
        return _explain(parsed, exc)
    finally:
        engine.dispose()


def _sqlite_directory(parsed: URL) -> DatabaseProblem | None:
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    directory = Path(database).absolute().parent
    if directory.is_dir():
        return None
    if directory.exists():
        return DatabaseProblem(f"the SQLite database {database} cannot be created: {directory} is not a directory (DEALSVC_DATABASE_URL)", True)
    return DatabaseProblem(
        f"the SQLite database {database} cannot be created: its directory {directory} does not exist "
        f"(create it with `mkdir -p {shlex.quote(str(directory))}`, or set DEALSVC_DATABASE_URL)",
        True,
    )


def _explain(parsed: URL, exc: DBAPIError) -> DatabaseProblem:
    detail = " ".join(str(exc.orig).split())
    if parsed.get_backend_name() == "sqlite":
        return DatabaseProblem(f"SQLite cannot open {parsed.database}: {detail} (DEALSVC_DATABASE_URL)", True)
    host, port = parsed.host or "localhost", parsed.port or 5432
    where = f"PostgreSQL at {host}:{port}"
    lower = detail.lower()
    if "does not exist" in lower and "database" in lower and f'"{parsed.database}"' in detail:
        create = ["createdb", "-h", host, "-p", str(port)] + (["-U", parsed.username] if parsed.username else []) + [parsed.database]
        return DatabaseProblem(
            f'the database "{parsed.database}" does not exist on {where}: create it with '
            f"`{shlex.join(create)}` (or set DEALSVC_DATABASE_URL to one that exists)",
            True,
        )
    if "password authentication failed" in lower or ("role" in lower and "does not exist" in lower) or "pg_hba.conf" in lower:
        return DatabaseProblem(
            f"{where} refused user {parsed.username!r}: check the user and password in DEALSVC_DATABASE_URL ({_first_fatal(detail)})",
            True,
        )
    if "connection refused" in lower or "timeout" in lower or "timed out" in lower or "starting up" in lower:
        return DatabaseProblem(f"cannot reach {where} ({_first_fatal(detail)}): is it running? (DEALSVC_DATABASE_URL)", False)
    if "could not translate host name" in lower or "name or service not known" in lower:
        return DatabaseProblem(f"unknown host {host!r} in DEALSVC_DATABASE_URL ({_first_fatal(detail)})", True)
    return DatabaseProblem(f"cannot use {where}, database {parsed.database!r}: {_first_fatal(detail)}", False)


def _first_fatal(detail: str) -> str:
    """The server's own words ("FATAL: ..."), without psycopg's repetition of every address tried."""
    for marker in ("FATAL:", "error:"):
        if marker in detail:
            return detail[detail.index(marker):].split(" connection to server")[0].strip()
    return detail.split(" Is the server running")[0].strip()


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "not parsable"
