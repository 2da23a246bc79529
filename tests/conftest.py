"""Fixtures: every database test runs on SQLite and on PostgreSQL, each in a fresh schema."""
from __future__ import annotations

import secrets
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from config import Settings
from config import testing
from config.testing import test_database_url
from dealsvc.adapters.db.session import normalize_url
from dealsvc.bootstrap import bootstrap
from tests.support.apps import shared_app
from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS, SCHEDULER_LEASE_S, Api, empty_database
from tests.support.processes import WorkerProcess
from tests.support.databases import BACKENDS, pg_url_with_schema, shared_engine


@pytest.fixture(scope="session", autouse=True)
def _one_tls_context_per_session():
    """Every container builds firebase-admin's HTTP clients, and each of those loads certifi's
    CA bundle into a new TLS context (about 0.1 s of CPU, three times per container). The tests
    share one context per set of options instead, as httpx allows (`verify=<context>`): the
    tests' pushes go to the emulator over plain HTTP, and the bundle is the same file anyway."""
    from httpx._transports import default

    original = default.create_ssl_context
    made: dict = {}

    def shared(verify=True, cert=None, trust_env=True):
        if verify is not True or cert is not None:
            return original(verify=verify, cert=cert, trust_env=trust_env)
        if trust_env not in made:
            made[trust_env] = original(verify=verify, cert=cert, trust_env=trust_env)
        return made[trust_env]

    default.create_ssl_context = shared
    yield
    default.create_ssl_context = original


def _migrated(url: str) -> str:
    """The schema at head, once per session: the containers of the tests skip the check."""
    from dealsvc.adapters.db import migrate
    from dealsvc.adapters.db.session import make_engine

    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def sqlite_database_url(tmp_path_factory):
    """A migrated, empty SQLite database for the whole session."""
    path: Path = tmp_path_factory.mktemp("db") / "dealsvc.db"
    return _migrated(f"sqlite:///{path}")


@pytest.fixture(scope="session")
def postgresql_database_url():
    """A migrated, empty schema on the test PostgreSQL for the whole session."""
    base = test_database_url()
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(normalize_url(base), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # a missing PostgreSQL is a failure, never a silent skip
        pytest.fail(f"PostgreSQL at {base} is not usable ({exc}); set DEALSVC_TEST_DATABASE_URL=none to run SQLite only")
    yield _migrated(pg_url_with_schema(base, schema))
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request):
    """A migrated, empty database per backend for the whole session: a test runs on each."""
    return request.getfixturevalue(f"{request.param}_database_url")


@pytest.fixture(scope="session")
def database_urls(request) -> dict[str, str]:
    """The same databases, every backend's at once: for a test that sends the same requests to
    each (tests/support/schemathesis_live.py)."""
    return {backend: request.getfixturevalue(f"{backend}_database_url") for backend in BACKENDS}


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    transport = testing.test_fcm_transport()
    return Settings(
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        var_dir=tmp_path,
        geocoder="none",
        auto_migrate=True,
        **GENEROUS_RATE_LIMITS,
        scheduler_lease_s=SCHEDULER_LEASE_S,
        **({"fcm_transport": transport} if transport else {}),
    )


@pytest.fixture
def container(settings):
    # `database_url` migrated the schema once for the session (a test module's own `settings`
    # points at it too); each test's container only empties it.
    c = bootstrap(settings, migrate_schema=False, engine=shared_engine(settings.database_url))
    empty_database(c)
    yield c
    c.close()


@pytest.fixture
def app(container):
    return shared_app(container)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture(scope="module")
def chromium():
    """One Playwright driver and one Chromium for a test module (starting them costs about a
    second of CPU per test); every test opens contexts of its own (tests/support/browser.py)."""
    from tests.support.browser import launched_chromium

    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def nominatim():
    """A local server answering like Nominatim's /search, recording every request."""
    from tests.fakes.nominatim import FakeNominatim

    fake = FakeNominatim().start()
    yield fake
    fake.stop()


@pytest.fixture
def worker_process(database_url, tmp_path):
    """Starts worker processes against the test database; whatever is still running at the end is killed."""
    started: list[WorkerProcess] = []

    def start(kind: str = "scheduler", label: str | None = None, **extra_env: str) -> WorkerProcess:
        name = label or f"{kind}-{len(started)}"
        process = WorkerProcess(kind, database_url, tmp_path / f"{name}.log", extra_env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def multiworker_env() -> dict[str, str]:
    """More DEALSVC_* variables for `multiworker_server`; a test module overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def _module_servers(tmp_path_factory):
    from tests.support.gunicorn import ModuleServers

    servers = ModuleServers(tmp_path_factory.mktemp("gunicorn"))
    yield servers
    servers.close()


@pytest.fixture
def multiworker_server(request, container, database_url, tmp_path, multiworker_env):
    """The real service under gunicorn, 4 processes x 4 threads, on the test database (migrated
    and emptied by `container`), with no background workers; no traceback may reach its log.
    One per test, or one per module and database where the module sets ONE_SERVER_PER_MODULE
    (tests/support/gunicorn.py says when that may be)."""
    from tests.support.gunicorn import gunicorn_service

    if getattr(request.module, "ONE_SERVER_PER_MODULE", False):
        service = request.getfixturevalue("_module_servers").get(database_url, multiworker_env).from_now()
        yield service
    else:
        with gunicorn_service(database_url, tmp_path / "gunicorn.log", multiworker_env) as service:
            yield service
    # An unhandled exception is a 500 even when a test's own checks missed it.
    assert "Traceback" not in service.log(), service.log()


@pytest.fixture
def pg_url():
    """A fresh schema on the test PostgreSQL (not migrated), for what runs on PostgreSQL only:
    the production shape."""
    base = test_database_url()
    if base is None:
        pytest.skip("DEALSVC_TEST_DATABASE_URL=none: the production shape runs on PostgreSQL only")
    schema = "prod_" + secrets.token_hex(5)
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield pg_url_with_schema(base, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


# What checks times against processes of its own: run apart, after the rest (`make test` runs
# the others in parallel first, then these three modules at a time: they mostly wait); the marker
# is added here, by what a test uses, or on the test itself (test_production_shape.py's slowloris).
# test_resident_app_push.py: the service worker shows a push Chromium's DevTools delivers; beside
# two other busy test processes on two cores it missed its wait once in three clean-clone runs
# (beside two serial modules, which mostly wait, it passed in every run so far).
# The benchmarks run with the rest: at their tiny size they are checked to run and print, not
# for their figures.
SERIAL_FILES = {"test_scheduler_restart.py", "test_scheduler_election.py", "test_resident_app_push.py"}
SERIAL_FIXTURES = {"worker_process"}


# `make test` hands whole modules to its test processes (--dist loadfile --no-loadscope-reorder)
# in the order below: first the modules that take longest for their few tests (the schemathesis
# runs against live gunicorns, every benchmark at its tiny size, the production shape's two rushes
# of 20,000 pushes): handed out late, by their number of tests as xdist orders them, each kept one
# process busy for a run's last minutes while the others had nothing left (the production shape
# alone for 70 s in one run). Then the others by their number of tests. Only these four go first:
# putting every long module first started more that spawn servers at once, and the load of that
# start (17 on two cores) made browser and timing tests miss their waits.
FIRST = ("test_schemathesis_merchant_side.py", "test_schemathesis_resident_side.py", "test_benchmarks.py",
         "test_production_shape.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SERIAL_FILES or SERIAL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.serial)
    sizes = Counter(item.path for item in items)
    first = {name: rank for rank, name in enumerate(FIRST)}
    items.sort(key=lambda item: (first.get(item.path.name, len(FIRST)), -sizes[item.path]))  # stable within a module
