"""The database holds no bearer secret in plaintext, only its SHA-256: read back byte for byte."""
from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from tests.support.api import ADMIN_TOKEN


def database_contents(container) -> bytes:
    """Everything the database holds: the SQLite files as they lie on disk, or on PostgreSQL
    every row of every table of the schema, as text."""
    engine = container.db.engine
    if engine.dialect.name == "sqlite":
        path = Path(make_url(str(engine.url)).database)
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]
        assert path.stat().st_size > 0
        return b"".join(f.read_bytes() for f in files if f.exists())
    chunks = []
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        assert {"merchants", "subscribers", "operator_rules", "rule_changes"} <= set(tables)
        for table in tables:
            for (row,) in conn.execute(text(f'SELECT t::text FROM "{table}" AS t')):
                chunks.append(row)
    return "\n".join(chunks).encode("utf-8")


def sha256(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest().encode("ascii")


def test_the_database_holds_hashes_of_secrets_never_the_secrets(api, container):
    merchants = [api.merchant() for _ in range(3)]
    subscribers = [api.subscriber() for _ in range(3)]
    # Use every secret, so anything kept about a sign-in would be on disk too.
    op = api.h(ADMIN_TOKEN)
    api.rules(max_notifications_per_day=4)
    for m in merchants:
        assert api.c.get("/api/v1/merchants/me", headers=api.h(m["api_key"])).status_code == 200
        api.shop(m["api_key"])
    for s in subscribers:
        assert api.c.get(f"/api/v1/subscribers/{s['id']}", headers=api.h(s["secret"])).status_code == 200
        assert api.c.patch(f"/api/v1/subscribers/{s['id']}", json={"radius_m": 800}, headers=api.h(s["secret"])).status_code == 200
    assert api.c.get("/api/v1/admin/merchants", headers=op).status_code == 200

    contents = database_contents(container)

    secrets = [m["api_key"] for m in merchants] + [s["secret"] for s in subscribers]
    for secret in secrets:
        random_part = secret.split("_", 1)[1]
        assert secret.encode() not in contents
        assert random_part.encode() not in contents
        assert sha256(secret) in contents
    assert ADMIN_TOKEN.encode() not in contents
    # The ids and hashes really are what the database holds: the check reads the right data.
    for m in merchants:
        assert m["id"].encode() in contents
    for s in subscribers:
        assert s["id"].encode() in contents
