"""Migration 0015 adds when a push was opened (notifications.opened_at), the operator's audit and
the link from a rule change to its entry, keeping every row; the service works on the result, and
a downgrade and upgrade again leave the rows where they were."""
from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from dealsvc.adapters.db import migrate
from dealsvc.adapters.db.session import make_engine
from tests.support.api import ADMIN_TOKEN
from tests.support.migrations import MILAN, Service, seed_0010, fresh_url  # noqa: F401, F811 (fixtures among them)

BEFORE = ScriptDirectory.from_config(migrate.alembic_config(None)).get_revision("0015").down_revision


def _schema(engine) -> tuple[set[str], set[str], set[str]]:
    found = inspect(engine)
    return ({c["name"] for c in found.get_columns("notifications")}, {c["name"] for c in found.get_columns("rule_changes")},
            set(found.get_table_names()))


def test_0015_adds_opened_and_the_audit_and_a_downgrade_takes_them_away(fresh_url, tmp_path):
    engine = make_engine(fresh_url)
    migrate.upgrade(engine, "0010")
    seed_0010(engine, [("sub_milan", *MILAN, "UTC")])
    migrate.upgrade(engine, BEFORE)
    t = "2026-12-01 12:00:00"
    with engine.begin() as conn:
        pk = conn.execute(text("SELECT pk FROM subscribers")).scalar_one()
        conn.execute(text("INSERT INTO notifications (offer_id, subscriber_pk, kind, status, due_at, attempts, created_at, "
                          "sent_at) VALUES ('off_1', :pk, 'offer', 'sent', :t, 1, :t, :t)"), {"pk": pk, "t": t})
        conn.execute(text("INSERT INTO rule_changes (changed_at, name, old_value, new_value) VALUES (:t, 'max_radius_m', "
                          "'5000', '4000')"), {"t": t})
    notifications, changes, tables = _schema(engine)
    assert "opened_at" not in notifications and "audit_id" not in changes and "operator_audit" not in tables

    migrate.upgrade(engine, "0015")
    notifications, changes, tables = _schema(engine)
    assert "opened_at" in notifications and "audit_id" in changes and "operator_audit" in tables
    with engine.connect() as conn:
        assert conn.execute(text("SELECT opened_at FROM notifications")).scalar_one() is None
        assert conn.execute(text("SELECT audit_id FROM rule_changes")).scalar_one() is None
        nid = conn.execute(text("SELECT id FROM notifications")).scalar_one()
    engine.dispose()

    with Service(fresh_url, tmp_path) as api:
        # The seeded resident's secret hash is its id: a new resident cannot open that push...
        other = api.subscriber(*MILAN)
        r = api.c.post(f"/api/v1/notifications/{nid}/opened", headers=api.h(other["secret"]))
        assert r.status_code == 404
        # ... and the operator's actions are kept; the old history line has no entry.
        api.rules(max_radius_m=3000)
        audit = api.c.get("/api/v1/admin/audit", headers=api.h(ADMIN_TOKEN)).json["items"]
        assert [(e["action"], [c["new_value"] for c in e["rule_changes"]]) for e in audit] == [("rules_changed", [3000])]
        history = api.c.get("/api/v1/admin/rules/history", headers=api.h(ADMIN_TOKEN)).json["items"]
        assert [h["new_value"] for h in history] == [3000, 4000]

    engine = make_engine(fresh_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE notifications SET opened_at = :t"), {"t": t})
    migrate.downgrade(engine, BEFORE)
    notifications, changes, tables = _schema(engine)
    assert "opened_at" not in notifications and "audit_id" not in changes and "operator_audit" not in tables
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM notifications")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM rule_changes")).scalar_one() == 2
    migrate.upgrade(engine)
    assert "opened_at" in _schema(engine)[0]
    engine.dispose()
