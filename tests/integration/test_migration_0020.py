"""Migration 0020 gives the outbox indexes that name no column a push's recording writes: the
pending pushes by `pending_due_at` (filled in from `due_at`), the leased ones by `lease_until`,
a batch's by `batch_id`; on PostgreSQL the table's pages keep room for a row's new version. A
push pending before the upgrade is due on its own after it; a downgrade puts 0018's indexes back."""
from __future__ import annotations

from sqlalchemy import inspect, text

from dealsvc.adapters.db import migrate
from dealsvc.adapters.db.session import make_engine
from tests.support.migrations import MILAN, seed_0010, fresh_url  # noqa: F401, F811 (fixtures among them)

ROWS = {
    # subscriber, status, due_at, lease_until, batch_id
    "pending": ("sub_a", "pending", "2026-12-01 10:00:00", None, None),
    "leased": ("sub_b", "sending", "2026-12-01 10:00:00", "2026-12-01 10:01:00", None),
    "in_batch": ("sub_c", "sending", "2026-12-01 10:00:00", None, 7),
    "sent": ("sub_d", "sent", "2026-12-01 10:00:00", None, 6),
}


def _indexes(engine) -> dict[str, tuple[list[str], str | None]]:
    """ix_notifications_* by name: their columns and their predicate, as the database holds them."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'notifications' "
                "AND schemaname = current_schema()")).all()
        else:
            rows = conn.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'notifications' "
                "AND sql IS NOT NULL")).all()
    found = {}
    for name, sql in rows:
        if name.startswith("ix_notifications_") and name != "ix_notifications_subscriber_pk":
            where = " ".join(sql.replace('"', "").split()).split(" WHERE ", 1)[-1]
            found[name] = where[1:-1] if where.startswith("(") and where.endswith(")") else where
    columns = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("notifications")}
    return {name: (columns[name], where) for name, where in found.items()}


def _fillfactor(engine) -> str | None:
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        options = conn.execute(text(
            "SELECT reloptions FROM pg_class WHERE relname = 'notifications' "
            "AND relnamespace = current_schema()::regnamespace")).scalar_one()
    return next((o for o in options or [] if o.startswith("fillfactor=")), None)


def test_0020_indexes_the_outbox_by_columns_the_recording_never_writes_and_a_downgrade_restores_0018(fresh_url):
    engine = make_engine(fresh_url)
    migrate.upgrade(engine, "0010")
    seed_0010(engine, [(sub, *MILAN, "UTC") for sub, *_ in ROWS.values()])
    migrate.upgrade(engine, "0019")
    with engine.begin() as conn:
        for name, (sub, status, due, lease, batch) in ROWS.items():
            conn.execute(text(
                "INSERT INTO notifications (offer_id, subscriber_pk, kind, status, due_at, lease_until, batch_id, "
                "attempts, created_at) SELECT 'off_1', pk, 'offer', :status, :due, :lease, :batch, 0, :due "
                "FROM subscribers WHERE id = :sub"),
                {"sub": sub, "status": status, "due": due, "lease": lease, "batch": batch})
    assert _indexes(engine)["ix_notifications_due"] == (["due_at"], "status = 'pending'" if engine.dialect.name == "sqlite"
                                                        else "(status)::text = 'pending'::text")

    migrate.upgrade(engine, "0020")
    assert _indexes(engine) == {
        "ix_notifications_due": (["pending_due_at"], "pending_due_at IS NOT NULL"),
        "ix_notifications_lease": (["lease_until"], "lease_until IS NOT NULL"),
        "ix_notifications_batch": (["batch_id"], "batch_id IS NOT NULL"),
    }
    assert _fillfactor(engine) == (None if engine.dialect.name == "sqlite" else "fillfactor=40")
    with engine.connect() as conn:
        due = dict(conn.execute(text(
            "SELECT s.id, n.pending_due_at FROM notifications n JOIN subscribers s ON s.pk = n.subscriber_pk")).all())
    # Only the pending push is due on its own (SQLite returns the text it stores).
    assert {sub: str(at)[:19] if at else None for sub, at in due.items()} == {
        "sub_a": "2026-12-01 10:00:00", "sub_b": None, "sub_c": None, "sub_d": None}

    migrate.downgrade(engine, "0019")
    assert "pending_due_at" not in {c["name"] for c in inspect(engine).get_columns("notifications")}
    assert _indexes(engine)["ix_notifications_batch"][0] == ["batch_id"]
    assert _fillfactor(engine) is None
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM notifications")).scalar_one() == len(ROWS)
    migrate.upgrade(engine, "0020")
    engine.dispose()
