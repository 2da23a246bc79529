"""Migration 0014 on rows written before it: tokens are dated from the rows' last change,
departed residents from theirs, alerts may lose their resident (and the service then unlinks old
ones), and a downgrade to 0013 and back works with the rows in place."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import inspect, text

from dealsvc.adapters.db import migrate
from dealsvc.adapters.db.session import make_engine
from dealsvc.domain.consent import CURRENT_NOTICE
from tests.support.api import ADMIN_TOKEN
from tests.support.migrations import MILAN, NICE, Service, seed_0010, fresh_url  # noqa: F401, F811 (fixtures among them)

NEW = {"token_seen_at", "deactivated_at", "privacy_notice_version", "privacy_accepted_at"}
LONG_AGO = "2026-01-02 03:04:05"


def _columns(engine, table: str) -> dict[str, dict]:
    return {c["name"]: c for c in inspect(engine).get_columns(table)}


def _indexes(engine, table: str) -> set[str]:
    return {i["name"] for i in inspect(engine).get_indexes(table)}


def test_0014_dates_tokens_and_departures_and_lets_old_alerts_lose_their_resident(fresh_url, tmp_path):
    engine = make_engine(fresh_url)  # the service's own: foreign keys enforced on SQLite too
    migrate.upgrade(engine, "0010")
    seed_0010(engine, [("sub_milan", *MILAN, "UTC"), ("sub_nice", *NICE, "Europe/Paris")])
    migrate.upgrade(engine, "0013")
    with engine.begin() as conn:
        # Nice's token died long ago; Milan got an alert then.
        conn.execute(text("UPDATE subscribers SET active = false, updated_at = :t WHERE id = 'sub_nice'"), {"t": LONG_AGO})
        conn.execute(text(
            "INSERT INTO notifications (offer_id, subscriber_pk, kind, status, due_at, attempts, created_at, distance_m) "
            "SELECT 'off_1', pk, 'offer', 'sent', :t, 1, :t, 210.0 FROM subscribers WHERE id = 'sub_milan'"), {"t": LONG_AGO})
    assert not NEW & set(_columns(engine, "subscribers"))

    migrate.upgrade(engine)
    columns = _columns(engine, "subscribers")
    assert NEW <= set(columns) and "erased_at" in _columns(engine, "merchants")
    assert _columns(engine, "notifications")["subscriber_pk"]["nullable"] is True
    assert {"ix_notifications_due", "ix_notifications_lease"} <= _indexes(engine, "notifications")
    assert {"ix_subscribers_token_seen_at", "ix_subscribers_deactivated_at"} <= _indexes(engine, "subscribers")
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(text(
            "SELECT id, token_seen_at, updated_at, deactivated_at, privacy_notice_version FROM subscribers"))}
        # The partial indexes kept their WHERE (SQLite's copy of the table made them again).
        if engine.dialect.name == "sqlite":
            due = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'ix_notifications_due'")).scalar_one()
            assert " WHERE " in due.upper()
    assert rows["sub_milan"].token_seen_at == rows["sub_milan"].updated_at and rows["sub_milan"].deactivated_at is None
    assert str(rows["sub_nice"].deactivated_at).startswith("2026-01-02 03:04:05")
    assert rows["sub_milan"].privacy_notice_version is None
    engine.dispose()

    with Service(fresh_url, tmp_path) as api:
        # The service on the result: a resident joins with the notice; the retention job wipes
        # Nice (gone for months) and unlinks Milan's old alert, keeping the offer's count.
        joined = api.subscriber(*MILAN, privacy_notice_version=CURRENT_NOTICE)
        assert joined["privacy_notice"]["version"] == CURRENT_NOTICE
        done = api.c.application.extensions["dealsvc"].retention.purge()
        assert done["residents_wiped"] == 1 and done["alerts_unlinked"] == 1, done
        r = api.c.get("/api/v1/admin/merchants", headers=api.h(ADMIN_TOKEN))
        assert r.status_code == 200 and r.json["items"][0]["id"] == "mer_1"

    engine = make_engine(fresh_url)
    with engine.begin() as conn:  # one more alert that keeps its resident
        conn.execute(text(
            "INSERT INTO notifications (offer_id, subscriber_pk, kind, status, due_at, attempts, created_at) "
            "SELECT 'off_1', pk, 'offer', 'sent', :t, 1, :t FROM subscribers WHERE id = 'sub_milan'"), {"t": datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=1)})
    migrate.downgrade(engine, "0013")
    assert not NEW & set(_columns(engine, "subscribers"))
    assert _columns(engine, "notifications")["subscriber_pk"]["nullable"] is False
    with engine.connect() as conn:
        # The unlinked alert had no place in the old schema; the linked one stays.
        assert conn.execute(text("SELECT count(*) FROM notifications")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM subscribers")).scalar_one() == 3
    migrate.upgrade(engine)
    assert NEW <= set(_columns(engine, "subscribers"))
    engine.dispose()
