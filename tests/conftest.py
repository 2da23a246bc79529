"""Fixtures: every database test runs on SQLite and on PostgreSQL, each in a fresh schema."""
from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from config import Settings
from config.testing import test_database_url
from dealsvc.adapters.db.models import Base, OperatorRules
from dealsvc.adapters.db.session import normalize_url
from dealsvc.app import create_app
from dealsvc.bootstrap import bootstrap

ADMIN_TOKEN = "test-operator-token"
BACKENDS = ["sqlite", "postgresql"] if test_database_url() else ["sqlite"]


def _pg_url_with_schema(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    """A migrated, empty database per backend for the whole session."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "dealsvc.db"
        yield f"sqlite:///{path}"
        return
    base = test_database_url()
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(normalize_url(base), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # a missing PostgreSQL is a failure, never a silent skip
        pytest.fail(f"PostgreSQL at {base} is not usable ({exc}); set DEALSVC_TEST_DATABASE_URL=none to run SQLite only")
    yield _pg_url_with_schema(base, schema)
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        var_dir=tmp_path,
        geocoder="none",
        auto_migrate=True,
    )


def _empty(container) -> None:
    with container.db.write() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())
        s.add(OperatorRules(id=1, stored={}, updated_at=container.clock()))


@pytest.fixture
def container(settings):
    c = bootstrap(settings)
    _empty(c)
    yield c
    c.close()


@pytest.fixture
def app(container):
    return create_app(container=container)


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """A thin client for tests: sign-ups and the common calls, with the right credentials."""

    def __init__(self, client):
        self.c = client

    @staticmethod
    def h(secret: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    def merchant(self, email: str | None = None, name: str = "Forno Rossi") -> dict:
        email = email or f"{secrets.token_hex(4)}@shop.example"
        r = self.c.post("/api/v1/merchants", json={"name": name, "email": email})
        assert r.status_code == 201, r.json
        return r.json

    def shop(self, key: str, lat: float = 45.4642, lon: float = 9.1900, **extra) -> dict:
        body = {"name": "Forno Rossi", "category": "bakery", "lat": lat, "lon": lon, **extra}
        r = self.c.post("/api/v1/shops", json=body, headers=self.h(key))
        assert r.status_code == 201, r.json
        return r.json

    def offer_body(self, shop_id: str, **extra) -> dict:
        from datetime import datetime, timedelta, timezone

        expires = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
        body = {
            "shop_id": shop_id,
            "title": "Pane di ieri",
            "category": "bakery",
            "original_price_cents": 400,
            "discount_pct": 50,
            "quantity": 5,
            "expires_at": expires,
        }
        body.update(extra)
        return body

    def offer(self, key: str, shop_id: str, **extra) -> dict:
        r = self.c.post("/api/v1/offers", json=self.offer_body(shop_id, **extra), headers=self.h(key))
        assert r.status_code == 201, r.json
        return r.json

    def subscriber(self, lat: float = 45.4650, lon: float = 9.1900, **extra) -> dict:
        body = {"fcm_token": "tok-" + secrets.token_hex(8), "lat": lat, "lon": lon, **extra}
        r = self.c.post("/api/v1/subscribers", json=body)
        assert r.status_code == 201, r.json
        return r.json

    def rules(self, **changes) -> dict:
        r = self.c.put("/api/v1/admin/rules", json=changes, headers=self.h(ADMIN_TOKEN))
        assert r.status_code == 200, r.json
        return r.json


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
def nominatim():
    """A local server answering like Nominatim's /search, recording every request."""
    from tests.fakes.nominatim import FakeNominatim

    fake = FakeNominatim().start()
    yield fake
    fake.stop()
