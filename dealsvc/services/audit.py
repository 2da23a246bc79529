"""The operator's audit: an entry per operator action, written in the action's own transaction
(the action and its record commit together or not at all), and read latest first."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from ..domain.audit import Action, Actor
from ..domain.clock import Clock
from .ports import Transactions

PAGE_SIZE = 100


class AuditRecord(Protocol):
    """What keeping an action needs (SQL: the db adapter's queries/audit.py)."""

    def add_audit_entry(self, at: datetime, actor_kind: str, actor: str, action: str, target: str | None,
                        detail: dict[str, Any] | None) -> int: ...


class AuditQueries(AuditRecord, Protocol):
    """What AuditService needs of the database (SQL: the db adapter's queries/audit.py, rules.py and merchants.py)."""

    def latest_audit_entries(self, limit: int, before: int | None = None) -> list[Any]: ...  # newest first
    def rule_changes_of_audit_entries(self, audit_ids: list[int]) -> list[Any]: ...  # in the order made
    def merchant_names(self, merchant_ids: set[str]) -> dict[str, str]: ...


def record(q: AuditRecord, actor: Actor | None, action: Action, now: datetime, target: str | None = None,
           detail: dict[str, Any] | None = None) -> int | None:
    """Keep one action (None: no operator acted, e.g. a test calling the service directly);
    its id, for what else the action wrote to name it (rule_changes.audit_id)."""
    if actor is None:
        return None
    return q.add_audit_entry(now, actor.kind, actor.ref, action, target, detail)


class AuditService:
    def __init__(self, store: Transactions[AuditQueries], clock: Clock):
        self.store = store
        self.clock = clock

    def note(self, actor: Actor, action: Action) -> None:
        """Keep an action that changes nothing else (signing in or out of the console)."""
        with self.store.write() as q:
            record(q, actor, action, self.clock())

    def latest(self, before: int | None = None, limit: int = PAGE_SIZE) -> dict[str, Any]:
        """Entries newest first (those older than entry `before`, when given), each with the
        rule changes it made; `next_before`: where the next page starts (None: no more)."""
        with self.store.read() as q:
            rows = q.latest_audit_entries(limit + 1, before)
            more = len(rows) > limit
            rows = rows[:limit]
            changes: dict[int, list[dict[str, Any]]] = {}
            for c in q.rule_changes_of_audit_entries([r.id for r in rows if r.action == Action.RULES_CHANGED]):
                changes.setdefault(c.audit_id, []).append(
                    {"name": c.name, "old_value": c.old_value, "new_value": c.new_value}
                )
            names = q.merchant_names({r.target for r in rows if r.target})
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
