"""The operator's audit."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..models import OperatorAudit
from .base import OnSession


class AuditQueries(OnSession):
    def add_audit_entry(self, at: datetime, actor_kind: str, actor: str, action: str, target: str | None,
                        detail: dict[str, Any] | None) -> int:
        """The new entry's id (written at once, for what else the action writes to name it)."""
        entry = OperatorAudit(at=at, actor_kind=actor_kind, actor=actor, action=action, target=target, detail=detail)
        self.session.add(entry)
        self.session.flush()
        return entry.id

    def latest_audit_entries(self, limit: int, before: int | None = None) -> list[OperatorAudit]:
        """The newest first; those older than entry `before` when it is given."""
        q = select(OperatorAudit).order_by(OperatorAudit.id.desc()).limit(limit)
        if before is not None:
            q = q.where(OperatorAudit.id < before)
        return list(self.session.scalars(q))
