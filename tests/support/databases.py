"""The test databases: which backends the suite runs on, PostgreSQL schemas of their own, and
one engine per database for the containers of a test process."""
from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import Engine

from config.testing import test_database_url
from dealsvc.adapters.db import make_engine

BACKENDS = ["sqlite", "postgresql"] if test_database_url() else ["sqlite"]


def pg_url_with_schema(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


_ENGINES: dict[str, Engine] = {}


def shared_engine(url: str) -> Engine:
    """The service's engine for `url` (make_engine), one per test process: SQLAlchemy caches
    compiled statements per engine, and a new engine for every test's container compiled each
    statement again (a third of the CPU of a test of a few requests). Each container closes its
    connections when it closes (Container.close), so a test still starts on new ones."""
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url)
    return _ENGINES[url]
