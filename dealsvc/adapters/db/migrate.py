"""Alembic, driven from code: the app upgrades at start in development; `python -m dealsvc migrate` in production."""
from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant: the key under which concurrent starts on PostgreSQL queue for the upgrade.
_PG_LOCK_KEY = 7_240_311


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe when several processes start at once."""
    cfg = alembic_config(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            try:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                conn.commit()
            finally:
                # After a failed upgrade the transaction is aborted: roll back first, or the
                # unlock fails too and hides the real error.
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
    else:
        with _file_lock(engine):
            command.upgrade(cfg, revision)


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """SQLite has no advisory locks: processes starting together queue on a lock file."""
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a migration from the difference between the models and the database."""
    command.revision(alembic_config(engine), message=message, autogenerate=True)


def current(engine: Engine) -> None:
    command.current(alembic_config(engine), verbose=False)
