"""Migration 0012 under a queue in flight: pushes planned and claimed by the service at 0011 (a
dispatcher crashed holding some) are delivered after the upgrade, each exactly once, and a push
already sent is not sent again."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import inspect, text

from config import Settings
from dealsvc.adapters.db import migrate
from dealsvc.adapters.db.session import make_engine
from dealsvc.bootstrap import bootstrap
from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS
from tests.fakes.fcm_emulator import PROJECT_ID, running_emulator
from tests.support.migrations import MILAN, seed_0010, fresh_url  # noqa: F401 (a fixture)

RESIDENTS = ["sub_pending_1", "sub_pending_2", "sub_pending_3", "sub_crashed_1", "sub_crashed_2", "sub_sent"]


def _stamp(moment: datetime) -> str:
    """As the service stores a time (naive UTC)."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _queue_at_0011(engine, now: datetime) -> None:
    """A live offer and its outbox as a service at 0011 left it: three pushes due, two claimed
    by a dispatcher that crashed (lease run out), one sent."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO offers (id, shop_id, title, category, original_price_cents, price_cents, discount_pct, "
            "currency, quantity, quantity_left, expires_at, status, created_at, updated_at) VALUES ('off_live', "
            "'shp_milan', 'Pane', 'bakery', 400, 200, 50, 'EUR', 5, 5, :expires, 'active', :t, :t)"),
            {"expires": _stamp(now + timedelta(hours=2)), "t": _stamp(now - timedelta(minutes=5))})
        pks = dict(conn.execute(text("SELECT id, pk FROM subscribers")).all())
        for sub_id in RESIDENTS:
            status, lease, attempts, sent_at = "pending", None, 0, None
            if sub_id.startswith("sub_crashed"):
                status, lease, attempts = "sending", _stamp(now - timedelta(seconds=30)), 1
            elif sub_id == "sub_sent":
                status, attempts, sent_at = "sent", 1, _stamp(now - timedelta(minutes=1))
            conn.execute(text(
                "INSERT INTO notifications (offer_id, subscriber_pk, kind, status, due_at, lease_until, attempts, "
                "created_at, distance_m, sent_at) VALUES ('off_live', :pk, 'offer', :status, :due, :lease, "
                ":attempts, :created, 350, :sent_at)"),
                {"pk": pks[sub_id], "status": status, "due": _stamp(now - timedelta(minutes=4)), "lease": lease,
                 "attempts": attempts, "created": _stamp(now - timedelta(minutes=4)), "sent_at": sent_at})


def test_0012_delivers_the_queue_left_at_0011_exactly_once(fresh_url, tmp_path):  # noqa: F811
    engine = make_engine(fresh_url)
    migrate.upgrade(engine, "0011")
    seed_0010(engine, [(sub_id, *MILAN, "Europe/Rome") for sub_id in RESIDENTS])
    _queue_at_0011(engine, datetime.now(timezone.utc))
    migrate.upgrade(engine)
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("notifications")}
    engine.dispose()
    assert {"ix_notifications_due", "ix_notifications_lease"} <= indexes
    assert "ix_notifications_offer_id" not in indexes  # the unique triple serves lookups by offer

    with running_emulator() as emulator:
        container = bootstrap(Settings(
            database_url=fresh_url, admin_token=ADMIN_TOKEN, var_dir=tmp_path, geocoder="none", auto_migrate=False,
            fcm_endpoint=emulator.fcm_base, fcm_project_id=PROJECT_ID, **GENEROUS_RATE_LIMITS,
        ))
        try:
            for _ in range(10):
                if not container.dispatcher.run_once():
                    break
            received = {sub_id: len(emulator.store.messages(sub_id)) for sub_id in RESIDENTS}
            counts = container.offers.counts("off_live")
        finally:
            container.close()
    # The subscribers' tokens are their ids (seed_0010).
    assert received == {sub_id: 0 if sub_id == "sub_sent" else 1 for sub_id in RESIDENTS}
    assert counts["sent"] == len(RESIDENTS) and counts["pending"] == 0
