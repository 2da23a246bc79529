"""The test databases: which backends the suite runs on, PostgreSQL schemas of their own."""
from __future__ import annotations

from urllib.parse import quote

from config.testing import test_database_url

BACKENDS = ["sqlite", "postgresql"] if test_database_url() else ["sqlite"]


def pg_url_with_schema(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
