"""One resident cannot hold a shop's whole stock. The operator rules
max_reservation_quantity, max_active_holds (also under concurrent reservations) and hold_minutes:
a hold not collected in time ends by itself, its stock goes back and a sold-out offer sells again
with a new wave, through firebase-admin and the FCM emulator. The clock is the test's, or the real
one with a real scheduler process."""
from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import create_engine, func, select, text, update

from config import testing as test_config
from dealsvc.adapters.db import migrate
from dealsvc.adapters.db.models import Fanout, Offer, Reservation
from dealsvc.adapters.db.session import normalize_url
from tests.support.api import ADMIN_TOKEN
from tests.support.databases import BACKENDS, pg_url_with_schema
from tests.support.scheduler import wait_for_line
from tests.support.push import env  # noqa: F401  (the fixture)

SHOP = (45.4642, 9.1900)


def near(i: int) -> tuple[float, float]:
    """The i-th resident north of the shop, 20 m farther than the one before."""
    return SHOP[0] + (100 + 20 * i) / 111_000, SHOP[1]


def reserve(api, secret: str, offer_id: str, quantity: int = 1):
    return api.c.post(f"/api/v1/offers/{offer_id}/reservations", json={"quantity": quantity}, headers=api.h(secret))


def utc(text_: str) -> datetime:
    return datetime.fromisoformat(text_.replace("Z", "+00:00"))


def problem(r, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.json)
    assert r.mimetype == "application/problem+json"
    return r.json


def left(api, offer_id: str) -> tuple[str, int]:
    o = api.c.get(f"/api/v1/offers/{offer_id}").json
    return o["status"], o["quantity_left"]


def stock_adds_up(container, offer_id: str) -> None:
    with container.db.read() as s:
        offer = s.get(Offer, offer_id)
        taken = s.scalar(
            select(func.coalesce(func.sum(Reservation.quantity), 0))
            .where(Reservation.offer_id == offer_id, Reservation.status.in_(["held", "collected"]))
        )
        assert taken + offer.quantity_left == offer.quantity, (taken, offer.quantity_left, offer.quantity)


@pytest.fixture
def owner(api):
    key = api.merchant()["api_key"]
    return key, api.shop(key, *SHOP)["id"]


# --- how much one resident may hold ---------------------------------------------------------


def test_one_reservation_holds_at_most_max_reservation_quantity(api, owner, container):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=999)
    resident = api.subscriber()["secret"]

    body = problem(reserve(api, resident, offer["id"], 999), 422)
    assert body["errors"] == {"quantity": ["must be at most 2 (operator rule max_reservation_quantity)."]}
    problem(reserve(api, resident, offer["id"], 3), 422)
    assert left(api, offer["id"]) == ("active", 999)  # nothing taken by a refusal

    assert reserve(api, resident, offer["id"], 2).status_code == 201
    api.rules(max_reservation_quantity=5)
    assert reserve(api, api.subscriber()["secret"], offer["id"], 5).status_code == 201
    problem(reserve(api, api.subscriber()["secret"], offer["id"], 6), 422)
    assert left(api, offer["id"]) == ("active", 992)
    stock_adds_up(container, offer["id"])


def test_a_resident_holds_at_most_max_active_holds_across_all_offers(api, owner, container):
    key, shop_id = owner
    offers = [api.offer(key, shop_id, quantity=5, title=f"Lot {i}") for i in range(5)]
    resident, neighbour = api.subscriber()["secret"], api.subscriber()["secret"]
    holds = [reserve(api, resident, o["id"]).json for o in offers[:3]]
    assert all(h["status"] == "held" for h in holds)

    body = problem(reserve(api, resident, offers[3]["id"]), 422)
    assert body["errors"] == {"holds": ["at most 3 held reservations at once (operator rule max_active_holds)."]}
    problem(reserve(api, resident, offers[0]["id"]), 422)  # the same offer again counts too
    assert left(api, offers[3]["id"]) == ("active", 5)
    # Another resident's holds are theirs.
    assert reserve(api, neighbour, offers[3]["id"]).status_code == 201

    # A hold collected or released no longer counts.
    assert api.c.post(f"/api/v1/reservations/{holds[0]['id']}/collect", json={"code": holds[0]["code"]},
                      headers=api.h(key)).status_code == 200
    assert reserve(api, resident, offers[3]["id"]).status_code == 201
    problem(reserve(api, resident, offers[4]["id"]), 422)
    assert api.c.delete(f"/api/v1/reservations/{holds[1]['id']}", headers=api.h(resident)).status_code == 200
    assert reserve(api, resident, offers[4]["id"]).status_code == 201

    api.rules(max_active_holds=4)
    assert reserve(api, resident, offers[1]["id"]).status_code == 201
    problem(reserve(api, resident, offers[2]["id"]), 422)
    for o in offers:
        stock_adds_up(container, o["id"])


def test_max_active_holds_holds_when_one_resident_reserves_everywhere_at_once(
    api, owner, container, database_url, multiworker_server
):
    """20 reservations of one resident on 20 offers, released together against gunicorn with
    4 processes: exactly max_active_holds are granted, whatever the interleaving."""
    key, shop_id = owner
    rounds, offers_per_round = 3, 20
    for n in range(rounds):
        offers = [api.offer(key, shop_id, quantity=5, title=f"Round {n} lot {i}")["id"] for i in range(offers_per_round)]
        resident = api.subscriber()["secret"]
        barrier = threading.Barrier(offers_per_round)
        answers: list = [None] * offers_per_round

        def ask(i: int) -> None:
            try:
                barrier.wait(timeout=60)
                answers[i] = requests.post(
                    f"{multiworker_server.url}/api/v1/offers/{offers[i]}/reservations", json={"quantity": 1},
                    headers={"Authorization": f"Bearer {resident}"}, timeout=120,
                )
            except BaseException as exc:  # reported below, in the test's thread
                answers[i] = exc

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(offers_per_round)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not [a for a in answers if isinstance(a, BaseException)], answers
        outcome = Counter(a.status_code for a in answers)
        print(f"{database_url.split(':')[0]} round {n}: {dict(sorted(outcome.items()))}")
        assert outcome == {201: 3, 422: offers_per_round - 3}, [(a.status_code, a.text) for a in answers]
        with container.db.read() as s:
            held = s.scalar(select(func.count()).where(Reservation.offer_id.in_(offers), Reservation.status == "held"))
            left_total = s.scalar(select(func.sum(Offer.quantity_left)).where(Offer.id.in_(offers)))
        assert (held, left_total) == (3, 5 * offers_per_round - 3)


# --- holds that end by themselves -------------------------------------------------------------


def test_a_hold_ends_after_hold_minutes_and_the_sold_out_offer_sells_again_with_a_wave(env):
    key = env.api.merchant()["api_key"]
    shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1])
    people = [(f"tok-near-{i:02d}", env.api.subscriber(lat=near(i)[0], lon=near(i)[1], radius_m=5000,
                                                       fcm_token=f"tok-near-{i:02d}")) for i in range(30)]
    offer = env.api.offer(key, shop["id"], quantity=2, expires_at=(env.clock.now + timedelta(hours=3)).isoformat())
    env.drain()

    def told() -> list[str]:
        return [t for t, _ in people if any(m["data"].get("type") == "offer" for m in env.received(t))]

    assert told() == [t for t, _ in people[:10]]  # the first wave: 5 x 2 items, the nearest
    buyer = people[0][1]["secret"]
    made_at = env.clock.now
    hold = reserve(env.api, buyer, offer["id"], 2)
    assert hold.status_code == 201, hold.json
    assert utc(hold.json["expires_at"]) == made_at + timedelta(minutes=30)
    assert left(env.api, offer["id"]) == ("sold_out", 0)

    env.clock.advance(minutes=29, seconds=59)
    env.container.scheduler.sweep()
    mine = env.api.c.get(f"/api/v1/reservations/{hold.json['id']}", headers=env.api.h(buyer)).json
    assert mine["status"] == "held" and left(env.api, offer["id"]) == ("sold_out", 0)

    env.clock.advance(seconds=1)
    # Its time has come: it reads as expired and cannot be collected, before any job ran.
    mine = env.api.c.get(f"/api/v1/reservations/{hold.json['id']}", headers=env.api.h(buyer)).json
    assert mine["status"] == "expired"
    late = env.api.c.post(f"/api/v1/reservations/{hold.json['id']}/collect", json={"code": hold.json["code"]},
                          headers=env.api.h(key))
    problem(late, 409)

    env.container.scheduler.sweep()  # the scheduler's job, on the test's clock
    assert left(env.api, offer["id"]) == ("active", 2)
    with env.container.db.read() as s:
        assert s.get(Reservation, hold.json["id"]).status == "expired"
        waves = s.scalars(select(Fanout.seq).where(Fanout.offer_id == offer["id"], Fanout.kind == "offer")).all()
    assert sorted(waves) == [1, 2]
    env.drain()
    # A new wave for the two items back: the next ten nearest hear of it, nobody twice.
    assert told() == [t for t, _ in people[:20]]
    assert [[m["data"]["type"] for m in env.received(t)].count("offer") for t, _ in people] == [1] * 20 + [0] * 10
    r = reserve(env.api, people[15][1]["secret"], offer["id"], 2)
    assert r.status_code == 201, r.json
    stock_adds_up(env.container, offer["id"])
    env.container.scheduler.sweep()
    assert left(env.api, offer["id"]) == ("sold_out", 0)  # a sweep ends each hold once


def test_stock_of_a_lapsed_hold_sells_before_the_scheduler_has_run(env):
    key = env.api.merchant()["api_key"]
    shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1])
    first, second = env.api.subscriber()["secret"], env.api.subscriber()["secret"]
    offer = env.api.offer(key, shop["id"], quantity=2, expires_at=(env.clock.now + timedelta(hours=3)).isoformat())
    assert reserve(env.api, first, offer["id"], 2).status_code == 201
    problem(reserve(env.api, second, offer["id"], 1), 409)

    env.clock.advance(minutes=30)
    # No job has run: the reservation itself gives the lapsed hold's stock back.
    r = reserve(env.api, second, offer["id"], 1)
    assert r.status_code == 201, r.json
    assert left(env.api, offer["id"]) == ("active", 1)
    stock_adds_up(env.container, offer["id"])
    # And the lapsed hold no longer counts against its resident.
    env.api.rules(max_active_holds=1)
    assert reserve(env.api, first, offer["id"], 1).status_code == 201


def test_a_hold_ends_with_its_offer_when_that_comes_first(env):
    key = env.api.merchant()["api_key"]
    shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1])
    resident = env.api.subscriber()["secret"]
    ends = env.clock.now + timedelta(minutes=20)
    offer = env.api.offer(key, shop["id"], quantity=3, expires_at=ends.isoformat())
    hold = reserve(env.api, resident, offer["id"], 1)
    assert hold.status_code == 201 and utc(hold.json["expires_at"]) == ends


def test_a_scheduler_process_ends_holds_at_their_time(container, api, worker_process, database_url):
    """Holds falling due a few seconds apart, with a real scheduler process: each ends, and its
    sold-out offer is active again, well within the 2 s sweep (its date job)."""
    key = api.merchant()["api_key"]
    shop_id = api.shop(key, *SHOP)["id"]
    resident = api.subscriber()["secret"]
    offers, due = [], {}
    start = datetime.now(timezone.utc)
    for i in range(3):
        offer = api.offer(key, shop_id, quantity=1, title=f"Lot {i}")
        hold = reserve(api, resident, offer["id"], 1).json
        offers.append(offer["id"])
        # The clock moved on by 30 minutes less a few seconds (off the sweep's beat).
        due[hold["id"]] = start + timedelta(seconds=6 + i * 1.3)
    with container.db.write() as s:
        for reservation_id, at in due.items():
            s.execute(update(Reservation).where(Reservation.id == reservation_id).values(expires_at=at))
    scheduler = worker_process("scheduler")
    ended: dict[str, datetime] = {}
    try:
        wait_for_line(scheduler, "scheduler elected", 30)
        assert datetime.now(timezone.utc) < min(due.values()), "the scheduler started too late: nothing was tested"
        deadline = max(due.values()) + timedelta(seconds=5)
        while len(ended) < len(due) and datetime.now(timezone.utc) < deadline:
            with container.db.read() as s:
                rows = s.execute(select(Reservation.id, Reservation.status).where(Reservation.id.in_(list(due)))).all()
            # When the read has returned: a hold it saw ended had ended by then (a time taken before
            # the query may precede the hold's end by the query's own time, and look early).
            read_at = datetime.now(timezone.utc)
            for reservation_id, status in rows:
                if status == "expired" and reservation_id not in ended:
                    ended[reservation_id] = read_at
            time.sleep(0.02)
    finally:
        scheduler.stop()
    assert set(ended) == set(due), scheduler.log()
    lateness = {rid: (ended[rid] - due[rid]).total_seconds() for rid in due}
    print(f"\n{database_url.split(':')[0]}: hold ends seen after their time: "
          + ", ".join(f"{v * 1000:.0f} ms" for v in lateness.values()))
    assert all(0 <= v < 0.6 for v in lateness.values()), lateness
    assert {left(api, o) for o in offers} == {("active", 1)}
    assert "Traceback" not in scheduler.log()


# --- the migration ----------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def fresh_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    base = test_config.test_database_url()
    schema = "mig_" + datetime.now().strftime("%H%M%S%f")
    admin = create_engine(normalize_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield pg_url_with_schema(base, schema)
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_the_migration_gives_existing_holds_their_end(fresh_url):
    from dealsvc.adapters.db.session import make_engine

    engine = make_engine(fresh_url)
    migrate.upgrade(engine, "0006")
    made = datetime(2026, 12, 5, 18, 0, 0)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO merchants (id, name, email, status, api_key_hash, created_at) "
            "VALUES ('mer_1', 'M', 'm@x.example', 'active', 'h', :t)"), {"t": made})
        conn.execute(text(
            "INSERT INTO shops (id, merchant_id, name, category, lat, lon, created_at, updated_at) "
            "VALUES ('shp_1', 'mer_1', 'S', 'bakery', 45.0, 9.0, :t, :t)"), {"t": made})
        conn.execute(text(
            "INSERT INTO subscribers (id, secret_hash, fcm_token, lat, lon, radius_m, categories, timezone, active, "
            "min_lat, max_lat, min_lon, max_lon, created_at, updated_at) "
            "VALUES ('sub_1', 'h', 't', 45.0, 9.0, 1000, '[]', 'UTC', true, 44.9, 45.1, 8.9, 9.1, :t, :t)"), {"t": made})
        for offer_id, ends in (("off_long", made + timedelta(hours=3)), ("off_short", made + timedelta(minutes=10))):
            conn.execute(text(
                "INSERT INTO offers (id, shop_id, title, category, original_price_cents, price_cents, discount_pct, "
                "currency, quantity, quantity_left, expires_at, status, created_at, updated_at) "
                "VALUES (:id, 'shp_1', 'T', 'bakery', 400, 200, 50, 'EUR', 5, 4, :e, 'active', :t, :t)"),
                {"id": offer_id, "e": ends, "t": made})
        pk = conn.execute(text("SELECT pk FROM subscribers")).scalar_one()
        for res_id, offer_id in (("res_long", "off_long"), ("res_short", "off_short")):
            conn.execute(text(
                "INSERT INTO reservations (id, offer_id, subscriber_pk, quantity, code, status, created_at, updated_at) "
                "VALUES (:id, :o, :pk, 1, 'ABCDEF', 'held', :t, :t)"), {"id": res_id, "o": offer_id, "pk": pk, "t": made})
    migrate.upgrade(engine)
    with engine.connect() as conn:
        ends = dict(conn.execute(text("SELECT id, expires_at FROM reservations")).all())
    engine.dispose()
    parse = lambda v: v if isinstance(v, datetime) else datetime.fromisoformat(v)  # noqa: E731
    assert parse(ends["res_long"]) == made + timedelta(minutes=30)
    assert parse(ends["res_short"]) == made + timedelta(minutes=10)


# --- the operator's console -------------------------------------------------------------------


def test_the_console_saves_the_reservation_rules_and_shows_errors_by_the_field(client, api):
    from tests.support.pages import console_rules, csrf, field_error

    client.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": csrf(client.get("/admin/").text)})
    console = client.get("/admin/").text
    rules = console_rules(console)
    assert (rules["max_reservation_quantity"], rules["max_active_holds"], rules["hold_minutes"]) == ("2", "3", "30")
    assert '<label for="hold_minutes">Time to collect (min)</label>' in console

    r = client.post("/admin/rules", data={**rules, "max_reservation_quantity": "4", "max_active_holds": "0",
                                          "hold_minutes": "soon", "csrf_token": csrf(console)})
    assert r.status_code == 422
    assert field_error(r.text, "max_active_holds") == "Must be between 1 and 100."
    assert field_error(r.text, "hold_minutes") == "Enter whole minutes."
    assert api.c.get("/api/v1/admin/rules", headers=api.h(ADMIN_TOKEN)).json["max_reservation_quantity"] == 2

    r = client.post("/admin/rules", data={**rules, "max_reservation_quantity": "4", "max_active_holds": "5",
                                          "hold_minutes": "15", "csrf_token": csrf(console)})
    assert r.status_code == 303
    stored = api.c.get("/api/v1/admin/rules", headers=api.h(ADMIN_TOKEN)).json
    assert (stored["max_reservation_quantity"], stored["max_active_holds"], stored["hold_minutes"]) == (4, 5, 15)
    assert "<td>hold_minutes</td><td>30</td><td>15</td>" in client.get("/admin/").text
    # The new time applies to the next hold.
    key = api.merchant()["api_key"]
    offer = api.offer(key, api.shop(key, *SHOP)["id"], quantity=9)
    hold = reserve(api, api.subscriber()["secret"], offer["id"], 4).json
    made = utc(hold["created_at"])
    assert utc(hold["expires_at"]) == made + timedelta(minutes=15)
