"""The operator's audit: an entry per operator action, written in the action's own transaction
(the action and its record commit together or not at all), and read latest first."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..adapters.db import Database
from ..adapters.db.models import Merchant, OperatorAudit, RuleChange
from ..domain.audit import Action, Actor
from ..domain.clock import Clock

PAGE_SIZE = 100


def record(s: Session, actor: Actor | None, action: Action, now: datetime, target: str | None = None,
           detail: dict[str, Any] | None = None) -> int | None:
    """Keep one action (None: no operator acted, e.g. a test calling the service directly);
    its id, for what else the action wrote to name it (rule_changes.audit_id)."""
    if actor is None:
        return None
    entry = OperatorAudit(at=now, actor_kind=actor.kind, actor=actor.ref, action=action, target=target, detail=detail)
    s.add(entry)
    s.flush()
    return entry.id


class AuditService:
    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    def note(self, actor: Actor, action: Action) -> None:
        """Keep an action that changes nothing else (signing in or out of the console)."""
        with self.db.write() as s:
            record(s, actor, action, self.clock())

    def latest(self, before: int | None = None, limit: int = PAGE_SIZE) -> dict[str, Any]:
        """Entries newest first (those older than entry `before`, when given), each with the
        rule changes it made; `next_before`: where the next page starts (None: no more)."""
        with self.db.read() as s:
            q = select(OperatorAudit).order_by(OperatorAudit.id.desc()).limit(limit + 1)
            if before is not None:
                q = q.where(OperatorAudit.id < before)
            rows = s.scalars(q).all()
            more = len(rows) > limit
            rows = rows[:limit]
            changes: dict[int, list[dict[str, Any]]] = {}
            ids = [r.id for r in rows if r.action == Action.RULES_CHANGED]
            if ids:
                for c in s.scalars(select(RuleChange).where(RuleChange.audit_id.in_(ids)).order_by(RuleChange.id)):
                    changes.setdefault(c.audit_id, []).append(
                        {"name": c.name, "old_value": c.old_value, "new_value": c.new_value}
                    )
            targets = {r.target for r in rows if r.target}
            names = dict(s.execute(select(Merchant.id, Merchant.name).where(Merchant.id.in_(targets))).all()) if targets else {}
            items = [
                {
                    "id": r.id,
                    "at": r.at,
                    "actor_kind": r.actor_kind,
                    "actor": r.actor,
                    "action": r.action,
                    "target": r.target,
                    "target_name": names.get(r.target),
                    "detail": r.detail or {},
                    "rule_changes": changes.get(r.id, []),
                }
                for r in rows
            ]
        return {"items": items, "next_before": items[-1]["id"] if more and items else None}
