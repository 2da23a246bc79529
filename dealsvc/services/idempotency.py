"""Idempotency-Key: the same key and body replay the first answer; the same key with another
body is refused. Kept in the same transaction as the work, so a crash cannot split them."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Protocol

from ..domain.errors import Unprocessable
from ..domain.i18n import Text

_DT = "__datetime__"


class IdempotencyQueries(Protocol):
    """What replay and remember need of the database (SQL: the idempotency queries of the database adapter)."""

    def idempotency_answer(self, scope: str, key: str) -> Any | None: ...  # fingerprint, status_code, response
    def keep_idempotency_answer(self, scope: str, key: str, fingerprint: str, status_code: int,
                                response: dict[str, Any], now: datetime) -> None: ...  # raises ports.IntegrityConflict


def fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _freeze(value: Any) -> Any:
    if isinstance(value, datetime):
        return {_DT: value.isoformat()}
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_freeze(v) for v in value]
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_DT}:
            return datetime.fromisoformat(value[_DT])
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_thaw(v) for v in value]
    return value


def replay(q: IdempotencyQueries, scope: str, key: str | None, body: Any) -> dict[str, Any] | None:
    """The first answer for this key, or None when the key is new (or not given)."""
    if not key:
        return None
    row = q.idempotency_answer(scope, key)
    if row is None:
        return None
    if row.fingerprint != fingerprint(body):
        raise Unprocessable(
            Text("This Idempotency-Key was used with another request body."),
            {"Idempotency-Key": [Text("was already used with a different request body.")]},
        )
    return _thaw(row.response)


def remember(q: IdempotencyQueries, scope: str, key: str | None, body: Any, status_code: int,
             response: dict[str, Any], now: datetime) -> None:
    """Keep the answer for this key; a concurrent twin that kept its own first makes this raise
    ports.IntegrityConflict (the caller starts again and replays the twin's)."""
    if key:
        q.keep_idempotency_answer(scope, key, fingerprint(body), status_code, _freeze(response), now)
