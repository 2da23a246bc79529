"""Idempotency-Key answers: the first answer to a request, kept to replay it."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from ....services.ports import IntegrityConflict
from ..models import IdempotencyKey
from .base import OnSession


class IdempotencyQueries(OnSession):
    def idempotency_answer(self, scope: str, key: str) -> IdempotencyKey | None:
        return self.session.get(IdempotencyKey, (scope, key))

    def keep_idempotency_answer(self, scope: str, key: str, fingerprint: str, status_code: int,
                                response: dict[str, Any], now: datetime) -> None:
        """Stored now (not at commit): a concurrent twin with the same key raises IntegrityConflict
        here, inside its transaction."""
        self.session.flush()  # the transaction's other rows: their errors are not this one
        self.session.add(IdempotencyKey(scope=scope, key=key, fingerprint=fingerprint, status_code=status_code,
                                        response=response, created_at=now))
        try:
            self.session.flush()
        except IntegrityError as twin:
            raise IntegrityConflict(f"idempotency key {scope!r}") from twin
