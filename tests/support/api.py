"""The tests' credentials and settings, their API client, and emptying a test database."""
from __future__ import annotations

import secrets

from dealsvc.adapters.db.models import Base, OperatorRules

# As long as DEALSVC_ADMIN_TOKEN must be (32 characters or more: a shorter one stops the service).
ADMIN_TOKEN = "test-operator-token-5c1f0e9a7b3d2c4e6f8a"
# Rate limits no test reaches unless it means to (tests/e2e/test_rate_limits.py sets tight ones):
# the limiter still runs on every call, in memory.
GENEROUS_RATE_LIMITS = {
    "rate_limit_subscribers": "100000/minute",
    "rate_limit_merchants": "100000/minute",
    "rate_limit_reservations": "100000/minute",
    "rate_limit_failed_auth": "100000/minute",
}
GENEROUS_RATE_LIMITS_ENV = {f"DEALSVC_{name.upper()}": value for name, value in GENEROUS_RATE_LIMITS.items()}
# The scheduler's lease in the tests' containers and worker processes: half the default, so the
# tests of a takeover wait half as long; still three renewals a second apart within it.
SCHEDULER_LEASE_S = 3.0


def empty_database(container) -> None:
    """Every table emptied, and the operator rules' row back at its defaults."""
    with container.db.write() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())
        s.add(OperatorRules(id=1, stored={}, updated_at=container.clock()))


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
