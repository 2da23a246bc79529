"""Settings for the test suite, from the environment like everything else."""
from __future__ import annotations

import os

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def test_database_url() -> str | None:
    """DEALSVC_TEST_DATABASE_URL: the PostgreSQL the suite runs against besides SQLite
    ('none' runs SQLite only, for a machine without PostgreSQL)."""
    value = os.environ.get("DEALSVC_TEST_DATABASE_URL", DEFAULT_PG)
    return None if value.lower() == "none" else value


DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def test_redis_url() -> str | None:
    """DEALSVC_TEST_REDIS_URL: the Redis the rate-limit tests share their counts through
    ('none' skips the tests that need one)."""
    value = os.environ.get("DEALSVC_TEST_REDIS_URL", DEFAULT_REDIS)
    return None if value.lower() == "none" else value


def test_fcm_transport() -> str | None:
    """DEALSVC_TEST_FCM_TRANSPORT: the push gateway's transport the pipeline tests run with
    ('curl' or 'requests'; unset: the default of Settings). tests/integration/test_push.py and
    tests/integration/test_push_gateway_parity.py hold both to the same tests whatever this says."""
    return os.environ.get("DEALSVC_TEST_FCM_TRANSPORT") or None
