"""Idempotency-Key: the same key and body replay the first answer; the same key with another
body is refused. Kept in the same transaction as the work, so a crash cannot split them."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..adapters.db.models import IdempotencyKey
from ..domain.errors import Unprocessable
from ..domain.i18n import Text

_DT = "__datetime__"


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


def replay(s: Session, scope: str, key: str | None, body: Any) -> dict[str, Any] | None:
    """The first answer for this key, or None when the key is new (or not given)."""
    if not key:
        return None
    row = s.get(IdempotencyKey, (scope, key))
    if row is None:
        return None
    if row.fingerprint != fingerprint(body):
        raise Unprocessable(
            Text("This Idempotency-Key was used with another request body."),
            {"Idempotency-Key": [Text("was already used with a different request body.")]},
        )
    return _thaw(row.response)


def remember(s: Session, scope: str, key: str | None, body: Any, status_code: int, response: dict[str, Any], now: datetime) -> None:
    if key:
        s.add(
            IdempotencyKey(
                scope=scope, key=key, fingerprint=fingerprint(body), status_code=status_code,
                response=_freeze(response), created_at=now,
            )
        )
        # Flushed now: a concurrent twin with the same key fails here, inside its transaction.
        s.flush()
