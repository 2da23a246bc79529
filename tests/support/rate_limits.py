"""Rate limits counted in Redis under a fresh key prefix per test, and apps with given limits."""
from __future__ import annotations

import dataclasses
import secrets

import pytest
import redis

from config.testing import test_redis_url as configured_redis_url  # not collected as a test
from dealsvc.app import create_app

REDIS_URL = configured_redis_url()


OFF = {"rate_limit_subscribers": None, "rate_limit_merchants": None, "rate_limit_reservations": None}


class RedisKeys:
    """Key prefixes of its own for each app or server of a test (concurrent runs share the
    Redis), every key under them deleted at the end."""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)
        self.prefixes: list[str] = []

    def new(self) -> str:
        prefix = "dealsvc-test-" + secrets.token_hex(6)
        self.prefixes.append(prefix)
        return prefix

    def keys(self, prefix: str) -> list[bytes]:
        return list(self.client.scan_iter(match=f"{prefix}:*"))

    def clean(self) -> None:
        for prefix in self.prefixes:
            for key in self.keys(prefix):
                self.client.delete(key)
        self.client.close()


@pytest.fixture
def redis_keys():
    if REDIS_URL is None:
        pytest.skip("DEALSVC_TEST_REDIS_URL=none")
    keys = RedisKeys(REDIS_URL)
    try:
        keys.client.ping()
    except redis.RedisError as exc:  # a missing Redis fails the run, like a missing PostgreSQL
        pytest.fail(f"Redis at {REDIS_URL} is not usable ({exc}); set DEALSVC_TEST_REDIS_URL=none to skip these tests")
    yield keys
    keys.clean()


@pytest.fixture
def limited(container, redis_keys):
    """An app on the test database with the given limits (every other limit off), counting in
    Redis under a fresh prefix unless told otherwise: `limited(subscribers="3/minute")`."""

    def make(*, redis_url: str | None = REDIS_URL, prefix: str | None = None, **changes):
        limits = {f"rate_limit_{name}": value for name, value in changes.items() if name in ("subscribers", "merchants", "reservations")}
        others = {name: value for name, value in changes.items() if name not in ("subscribers", "merchants", "reservations")}
        settings = container.settings.with_(
            **{**OFF, **limits}, **others, redis_url=redis_url, rate_limit_key_prefix=prefix or redis_keys.new()
        )
        return create_app(container=dataclasses.replace(container, settings=settings)).test_client()

    return make
