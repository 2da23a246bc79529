"""The web push tests' pipeline: the service on the FCM emulator, with a public address or none."""
from __future__ import annotations

from contextlib import contextmanager

from config import Settings
from tests.support.apps import shared_app
from dealsvc.bootstrap import bootstrap
from tests.fakes.fcm_emulator import PROJECT_ID, running_emulator
from tests.support.api import Api, empty_database
from tests.support.push import Env, FakeClock
from tests.support.databases import shared_engine

NEAR = (45.4660, 9.1900)  # 200 m from the shop


PUBLIC = "https://deals.example.org"


@contextmanager
def pipeline(settings: Settings, public_url: str | None):
    clock = FakeClock()
    with running_emulator() as emulator:
        container = bootstrap(
            settings.with_(fcm_endpoint=emulator.fcm_base, fcm_project_id=PROJECT_ID, public_url=public_url),
            clock=clock, engine=shared_engine(settings.database_url),
        )
        empty_database(container)
        try:
            yield Env(container, Api(shared_app(container).test_client()), emulator, clock)
        finally:
            container.close()
