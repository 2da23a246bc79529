"""The outbox leases a batch, not each push: a wave is planned in batches that dispatchers claim
whole. Two claims never hold the same batch; a batch whose claimer vanished is claimed again once
its lease runs out, losing nothing; a withdrawal reaches only residents whose alert was delivered;
alerts still waiting in a batch no one claimed are dropped when the offer ends. On SQLite and
PostgreSQL."""
from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event, func, inspect, select, text

from config import Settings
from dealsvc.adapters.db import migrate
from dealsvc.adapters.db.models import Notification, PushBatch
from dealsvc.adapters.db.session import make_engine
from dealsvc.app import create_app
from dealsvc.bootstrap import bootstrap
from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS, Api, empty_database
from tests.fakes.fcm_emulator import PROJECT_ID, running_emulator
from tests.support.migrations import fresh_url  # noqa: F401, F811 (fixtures among them)
from tests.support.push import Env, FakeClock

SHOP = (45.4642, 9.1900)
BATCH = 3
RESIDENTS = 9  # three batches


@pytest.fixture
def env(settings):
    clock = FakeClock()
    with running_emulator() as emulator:
        container = bootstrap(
            settings.with_(fcm_endpoint=emulator.fcm_base, fcm_project_id=PROJECT_ID, push_batch_size=BATCH),
            clock=clock,
        )
        empty_database(container)
        yield Env(container, Api(create_app(container=container).test_client()), emulator, clock)
        container.close()


def _planned(env: Env, resident: dict | None = None, **offer) -> tuple[str, str, list[str]]:
    """A shop, RESIDENTS residents around it and an offer to all of them at once, planned (the
    merchant's key, the offer's id, the residents' tokens)."""
    env.container.rules.update({"waves_enabled": False})
    key = env.api.merchant()["api_key"]
    shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1])
    tokens = [f"tok-batch-{i}" for i in range(RESIDENTS)]
    for i, token in enumerate(tokens):
        env.api.subscriber(lat=SHOP[0] + 0.0005 * (i + 1), lon=SHOP[1], fcm_token=token, **(resident or {}))
    offer = env.api.offer(key, shop["id"], quantity=20, expires_at=(env.clock.now + timedelta(hours=2)).isoformat(),
                          **offer)
    while env.container.dispatcher.expand_one():
        pass
    return key, offer["id"], tokens


def _claim(env: Env, queries=None) -> list:
    d = env.container.dispatcher
    if queries is not None:
        return d.claimer.claim(queries, env.clock(), d.settings.batch_size)
    with d.store.write() as q:
        return d.claimer.claim(q, env.clock(), d.settings.batch_size)


def _send(env: Env, claimed: list, record: bool = True) -> None:
    """What a dispatcher does with its claim: send it, then record the answers (unless it dies first)."""
    d = env.container.dispatcher
    gate = d.breaker.gate(len(claimed), False, d.stopping)
    results = d.gateway.send([c.message for c in claimed], gate)
    if record:
        d._record_surely(claimed, results, gate)


def _tokens(claimed: list) -> set[str]:
    return {c.message.token for c in claimed}


def _kinds(env: Env, token: str) -> list[str]:
    return [m["data"]["type"] for m in env.received(token)]


def _batches(env: Env) -> int:
    with env.container.db.read() as s:
        return s.scalar(select(func.count()).select_from(PushBatch))


def test_two_claims_never_hold_the_same_batch(env):
    _key, offer_id, tokens = _planned(env)
    if env.container.db.engine.dialect.name == "postgresql":
        # Side by side, neither committed yet: the second skips the batch the first holds.
        store = env.container.dispatcher.store
        with store.write() as one, store.write() as two:
            first, second = _claim(env, one), _claim(env, two)
    else:  # one writer at a time: one after the other
        first, second = _claim(env), _claim(env)
    third = _claim(env)
    assert [len(first), len(second), len(third)] == [BATCH] * 3
    assert len({c.batch.id for c in first + second + third}) == 3
    assert _tokens(first) | _tokens(second) | _tokens(third) == set(tokens)
    # All held: nothing more to claim until a lease runs out.
    assert _claim(env) == []
    env.clock.advance(seconds=61)
    again = _claim(env)
    assert _tokens(again) == _tokens(first) and again[0].batch.attempts == 2


def test_a_batch_whose_claimer_died_is_claimed_again_after_its_lease_and_nothing_is_lost(env):
    key, offer_id, tokens = _planned(env)
    dead = _claim(env)
    # The dispatcher holding it got two of its pushes through to FCM, then died before recording.
    _send(env, dead[:2], record=False)
    env.drain()  # the other batches
    left = set(tokens) - _tokens(dead)
    assert all(_kinds(env, t) == ["offer"] for t in left)
    [never_sent] = _tokens(dead) - {c.message.token for c in dead[:2]}
    assert env.received(never_sent) == []  # held by the dead claim until its lease runs out
    assert _batches(env) == 1

    env.clock.advance(seconds=61)
    env.drain()
    received = Counter(m.token for m in env.emulator.store.messages())
    assert set(received) == set(tokens)
    assert sum(received.values()) - RESIDENTS <= BATCH  # at most one batch twice
    assert Counter(n.status for n in env.notifications(offer_id)) == {"sent": RESIDENTS}
    assert env.stats(key, offer_id)["pending"] == 0
    assert _batches(env) == 0


def test_a_withdrawal_while_alerts_are_queued_reaches_only_residents_whose_alert_was_delivered(env):
    key, offer_id, tokens = _planned(env)
    delivered = _claim(env)
    _send(env, delivered)
    on_the_wire = _claim(env)  # claimed, not answered yet when the offer ends
    queued = set(tokens) - _tokens(delivered) - _tokens(on_the_wire)
    assert len(queued) == BATCH

    r = env.api.c.patch(f"/api/v1/offers/{offer_id}", json={"status": "cancelled"}, headers=env.api.h(key))
    assert r.status_code == 200, r.json
    env.drain()
    assert all(_kinds(env, t) == ["offer", "withdrawn"] for t in _tokens(delivered))
    # Their alerts are not delivered yet: the withdrawal waits for them.
    assert all(env.received(t) == [] for t in _tokens(on_the_wire))

    _send(env, on_the_wire)  # built before the offer ended: it goes, as a push on the wire does
    env.clock.advance(seconds=3)
    env.drain()
    assert all(_kinds(env, t) == ["offer", "withdrawn"] for t in _tokens(on_the_wire))
    # The queued ones never heard of it and hear nothing, now or later.
    env.clock.advance(hours=3)
    env.drain()
    assert all(env.received(t) == [] for t in queued)
    alerts = [n for n in env.notifications(offer_id) if n.kind == "offer"]
    assert Counter((n.status, n.reason) for n in alerts) == {
        ("sent", None): 2 * BATCH, ("dropped", "offer_cancelled"): BATCH}
    assert _batches(env) == 0


def test_a_price_drop_while_alerts_are_queued_reaches_the_told_and_the_others_get_the_new_price_in_their_alert(env):
    step = (env.clock.now + timedelta(minutes=30)).isoformat()
    key, offer_id, tokens = _planned(env, resident={"price_drops": True}, discount_pct=40,
                                     price_steps=[{"at": step, "discount_pct": 50}])
    delivered = _claim(env)
    _send(env, delivered)
    env.clock.advance(minutes=30)
    assert env.container.price_steps.apply_due() == [(offer_id, 1)]
    env.drain()
    for token in tokens:
        messages = [(m["data"]["type"], m["data"]["price_cents"]) for m in env.received(token)]
        if token in _tokens(delivered):
            assert messages == [("offer", "240"), ("price_drop", "200")]
        else:
            assert messages == [("offer", "200")]  # one push, with the price of when it went
    assert _batches(env) == 0


def test_an_offer_that_ends_before_its_queued_batch_is_claimed_leaves_those_alerts_dropped(env):
    key, offer_id, tokens = _planned(env)
    env.clock.advance(hours=2, seconds=1)
    assert offer_id in env.container.expiry.expire_due()
    assert env.container.offers.counts(offer_id)["pending"] == 0
    env.drain()
    assert env.emulator.store.messages() == []
    alerts = env.notifications(offer_id)
    assert Counter((n.kind, n.status, n.reason) for n in alerts) == {("offer", "dropped", "offer_expired"): RESIDENTS}
    assert _batches(env) == 0


def _columns_and_tables(engine) -> tuple[set[str], set[str], set[str]]:
    found = inspect(engine)
    return ({c["name"] for c in found.get_columns("notifications")}, set(found.get_table_names()),
            {i["name"] for i in found.get_indexes("notifications")})


def test_0018_down_gives_queued_pushes_back_and_up_again_delivers_each_once(fresh_url, tmp_path):  # noqa: F811
    clock = FakeClock()
    with running_emulator() as emulator:
        settings = Settings(
            database_url=fresh_url, admin_token=ADMIN_TOKEN, var_dir=tmp_path, geocoder="none", auto_migrate=True,
            fcm_endpoint=emulator.fcm_base, fcm_project_id=PROJECT_ID, push_batch_size=BATCH, **GENEROUS_RATE_LIMITS,
        )
        container = bootstrap(settings, clock=clock)
        env = Env(container, Api(create_app(container=container).test_client()), emulator, clock)
        try:
            key, offer_id, tokens = _planned(env)
            _send(env, _claim(env))  # one batch delivered, two still queued
        finally:
            container.close()

        engine = make_engine(fresh_url)
        columns, tables, indexes = _columns_and_tables(engine)
        assert "batch_id" in columns and "push_batches" in tables and "ix_notifications_batch" in indexes
        migrate.downgrade(engine, "0017")
        columns, tables, indexes = _columns_and_tables(engine)
        assert "batch_id" not in columns and "push_batches" not in tables and "ix_notifications_batch" not in indexes
        with engine.connect() as conn:
            statuses = Counter(conn.execute(text("SELECT status FROM notifications")).scalars())
        assert statuses == {"sent": BATCH, "pending": RESIDENTS - BATCH}
        migrate.upgrade(engine)
        assert "batch_id" in _columns_and_tables(engine)[0]
        engine.dispose()

        container = bootstrap(settings.with_(auto_migrate=False), clock=clock)
        env = Env(container, Api(create_app(container=container).test_client()), emulator, clock)
        try:
            env.drain()
            received = Counter(m.token for m in emulator.store.messages())
            counts = container.offers.counts(offer_id)
        finally:
            container.close()
    assert received == {t: 1 for t in tokens}
    assert counts["sent"] == RESIDENTS and counts["pending"] == 0


@pytest.fixture
def four_lanes(settings):
    clock = FakeClock()
    with running_emulator() as emulator:
        container = bootstrap(
            settings.with_(fcm_endpoint=emulator.fcm_base, fcm_project_id=PROJECT_ID, push_batch_size=BATCH,
                           push_lanes=4),
            clock=clock,
        )
        empty_database(container)
        yield Env(container, Api(create_app(container=container).test_client()), emulator, clock)
        container.close()


def test_idle_lanes_look_for_work_one_at_a_time_and_all_start_when_it_comes(four_lanes):
    """An idle process looks for work once per idle interval, however many lanes it runs (each
    look is a fan-out's transaction and a claim's); an offer posted meanwhile is still sent in
    full, and the process stops promptly."""
    env, idle_s, idle_for = four_lanes, 0.05, 1.0
    transactions: list[float] = []

    def began(_connection) -> None:
        transactions.append(time.monotonic())

    engine = env.container.db.engine
    event.listen(engine, "begin", began)
    stop = threading.Event()
    runner = threading.Thread(target=env.container.dispatcher.run_forever, args=(stop, idle_s), daemon=True)
    try:
        runner.start()
        time.sleep(0.5)  # started: its index built, its lanes idle
        looked_from = time.monotonic()
        time.sleep(idle_for)
        looks = sum(1 for at in transactions if looked_from <= at < looked_from + idle_for)
        # One lane looking: two transactions per interval (20 a second here); four lanes: 80.
        assert looks <= 2 * (idle_for / idle_s + 2), looks

        _, offer_id, tokens = _planned_only(env)
        deadline = time.monotonic() + 20
        while _sent(env, offer_id) < len(tokens) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _sent(env, offer_id) == len(tokens)
    finally:
        stop.set()
        runner.join(timeout=5)
        event.remove(engine, "begin", began)
    assert not runner.is_alive()


def _planned_only(env: Env) -> tuple[str, str, list[str]]:
    """As _planned, but the running dispatcher plans it."""
    env.container.rules.update({"waves_enabled": False})
    key = env.api.merchant()["api_key"]
    shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1])
    tokens = [f"tok-idle-{i}" for i in range(RESIDENTS)]
    for i, token in enumerate(tokens):
        env.api.subscriber(lat=SHOP[0] + 0.0005 * (i + 1), lon=SHOP[1], fcm_token=token)
    offer = env.api.offer(key, shop["id"], quantity=20, expires_at=(env.clock.now + timedelta(hours=2)).isoformat())
    return key, offer["id"], tokens


def _sent(env: Env, offer_id: str) -> int:
    with env.container.db.read() as s:
        return s.scalar(select(func.count()).select_from(Notification).where(
            Notification.offer_id == offer_id, Notification.status == "sent"))


def _statements_of_one_batch(settings, size: int) -> tuple[list[str], list[str]]:
    """The statements a wave of `size` residents (one batch) costs the database: planned, then
    claimed, sent and recorded."""
    clock = FakeClock()
    with running_emulator() as emulator:
        container = bootstrap(
            settings.with_(fcm_endpoint=emulator.fcm_base, fcm_project_id=PROJECT_ID, push_batch_size=size),
            clock=clock,
        )
        try:
            empty_database(container)
            env = Env(container, Api(create_app(container=container).test_client()), emulator, clock)
            env.container.rules.update({"waves_enabled": False})
            key = env.api.merchant()["api_key"]
            shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1])
            for i in range(size):
                env.api.subscriber(lat=SHOP[0] + 0.0001 * (i + 1), lon=SHOP[1], fcm_token=f"tok-{size}-{i}")
            offer = env.api.offer(key, shop["id"], quantity=20, expires_at=(clock.now + timedelta(hours=2)).isoformat())
            seen: list[str] = []

            def executed(_conn, _cursor, statement, *_args) -> None:
                seen.append(" ".join(statement.split()[:3]))

            engine = container.db.engine
            event.listen(engine, "before_cursor_execute", executed)
            try:
                while container.dispatcher.expand_one():
                    pass
                planning, seen[:] = list(seen), []
                assert container.dispatcher.send_batch() == size
                sending = list(seen)
            finally:
                event.remove(engine, "before_cursor_execute", executed)
            assert Counter(n.status for n in env.notifications(offer["id"])) == {"sent": size}
            return planning, sending
        finally:
            container.close()


def test_a_batch_costs_the_database_the_same_statements_whatever_its_size(settings):
    """The outbox's work on the happy path is per batch, not per push: planning a wave, claiming
    its batch, counting the daily caps and recording the answers take as many statements for
    40 residents as for 4."""
    small, large = _statements_of_one_batch(settings, 4), _statements_of_one_batch(settings, 40)
    assert small[0] == large[0], ("planning", small[0], large[0])
    assert small[1] == large[1], ("claiming, sending and recording", small[1], large[1])
