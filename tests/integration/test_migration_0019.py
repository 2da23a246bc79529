"""Migration 0019 gives alerts the four facts a shop's funnel keeps once the retention period cuts
their resident (ring, opened, reserved, collected); the alerts stay, and a downgrade takes the
columns away again."""
from __future__ import annotations

from sqlalchemy import inspect, text

from dealsvc.adapters.db import migrate
from dealsvc.adapters.db.session import make_engine
from tests.support.migrations import MILAN, seed_0010, fresh_url  # noqa: F401, F811 (fixtures among them)

KEPT = {"kept_ring", "kept_opened", "kept_reserved", "kept_collected"}


def _columns(engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("notifications")}


def test_0019_adds_the_kept_funnel_facts_and_a_downgrade_takes_them_away(fresh_url):
    engine = make_engine(fresh_url)
    migrate.upgrade(engine, "0010")
    seed_0010(engine, [("sub_milan", *MILAN, "UTC")])
    migrate.upgrade(engine, "0018")
    assert not KEPT & _columns(engine)
    with engine.begin() as conn:
        pk = conn.execute(text("SELECT pk FROM subscribers WHERE id = 'sub_milan'")).scalar_one()
        conn.execute(text(
            "INSERT INTO notifications (offer_id, subscriber_pk, kind, status, due_at, attempts, created_at) "
            "VALUES ('off_1', :pk, 'offer', 'sent', '2026-12-01 10:00:00', 1, '2026-12-01 10:00:00')"), {"pk": pk})
        alerts = conn.execute(text("SELECT count(*) FROM notifications")).scalar_one()
    assert alerts == 1

    migrate.upgrade(engine, "0019")
    assert KEPT <= _columns(engine)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM notifications")).scalar_one() == alerts
        conn.execute(text("UPDATE notifications SET kept_ring = '0-250', kept_opened = true"))

    migrate.downgrade(engine, "0018")
    assert not KEPT & _columns(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT offer_id, status FROM notifications")).all() == [("off_1", "sent")]
    migrate.upgrade(engine, "0019")
    assert KEPT <= _columns(engine)
    engine.dispose()
