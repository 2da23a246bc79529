"""The push pipeline in a test: a container on a fake clock, the FCM emulator, the dispatcher run by hand."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from dealsvc.adapters.db.models import Notification, Subscriber
from tests.support.apps import shared_app
from dealsvc.bootstrap import bootstrap
from tests.support.api import Api, empty_database
from tests.fakes.fcm_emulator import PROJECT_ID, running_emulator
from tests.support.databases import shared_engine

SHOP = (45.4642, 9.1900)  # Milan, Duomo


class FakeClock:
    def __init__(self):
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


@dataclass
class Env:
    container: object
    api: Api
    emulator: object
    clock: FakeClock

    def drain(self, rounds: int = 50) -> None:
        """Run the dispatcher until it has nothing left to do now."""
        for _ in range(rounds):
            if not self.container.dispatcher.run_once():
                return
        raise AssertionError("the dispatcher did not settle")

    def received(self, token: str) -> list[dict]:
        return [r.message for r in self.emulator.store.messages(token)]

    def notifications(self, offer_id: str) -> list[Notification]:
        with self.container.db.read() as s:
            rows = s.scalars(select(Notification).where(Notification.offer_id == offer_id)).all()
            s.expunge_all()
            return rows

    def subscriber_active(self, subscriber_id: str) -> bool:
        with self.container.db.read() as s:
            return s.scalar(select(Subscriber.active).where(Subscriber.id == subscriber_id))

    def merchant_stats(self, key: str, offer_id: str) -> dict:
        """The offer's stats as its merchant reads them (counts of residents coarse)."""
        r = self.api.c.get(f"/api/v1/offers/{offer_id}/stats", headers=self.api.h(key))
        assert r.status_code == 200, r.json
        return r.json

    def stats(self, key: str, offer_id: str) -> dict:
        """The same with the exact counts behind them: what the pipeline did, for its tests."""
        return {**self.merchant_stats(key, offer_id), **self.container.offers.counts(offer_id)}


@pytest.fixture
def env(settings):
    clock = FakeClock()
    with running_emulator() as emulator:
        container = bootstrap(
            settings.with_(fcm_endpoint=emulator.fcm_base, fcm_project_id=PROJECT_ID),
            clock=clock, migrate_schema=False, engine=shared_engine(settings.database_url),
        )
        empty_database(container)
        app = shared_app(container)
        yield Env(container, Api(app.test_client()), emulator, clock)
        container.close()


def merchant_with_shop(env: Env):
    m = env.api.merchant()
    shop = env.api.shop(m["api_key"], lat=SHOP[0], lon=SHOP[1], name="Forno Rossi")
    return m["api_key"], shop


def post_offer(env: Env, key: str, shop: dict, **extra) -> dict:
    body = {
        "expires_at": (env.clock.now + timedelta(hours=2)).isoformat(),
        "title": "Pane di ieri",
        **extra,
    }
    return env.api.offer(key, shop["id"], **body)


def subscriber(env: Env, token: str, lat=45.4660, lon=9.1900, **extra) -> dict:
    return env.api.subscriber(lat=lat, lon=lon, fcm_token=token, **extra)
