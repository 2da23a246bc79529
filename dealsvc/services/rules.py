"""The operator's rules: read fresh for every request, changed with a history line per rule."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from ..domain.audit import Action, Actor
from ..domain.clock import Clock
from ..domain.rules import Rules
from .audit import AuditRecord, record
from .ports import Transactions


class RulesLookup(Protocol):
    """What reading the rules needs (SQL: the db adapter's queries/rules.py)."""

    def stored_rules(self) -> dict[str, Any] | None: ...


class RuleQueries(RulesLookup, AuditRecord, Protocol):
    """What RulesService needs of the database (SQL: the db adapter's queries/rules.py)."""

    def rules_row_for_update(self) -> Any: ...  # .stored, .updated_at
    def add_rule_change(self, changed_at: datetime, name: str, old_value: Any, new_value: Any,
                        audit_id: int | None) -> None: ...
    def latest_rule_changes(self, limit: int) -> list[Any]: ...  # newest first


class RulesService:
    def __init__(self, store: Transactions[RuleQueries], clock: Clock):
        self.store = store
        self.clock = clock

    def current(self, q: RulesLookup | None = None) -> Rules:
        """The rules in force now (one primary-key read: a PUT applies to the next request), in
        the caller's transaction `q` when it has one."""
        if q is not None:
            return Rules.from_stored(q.stored_rules())
        with self.store.read() as q:
            return Rules.from_stored(q.stored_rules())

    def update(self, changes: dict[str, Any], actor: Actor | None = None) -> Rules:
        """Apply `changes`; what changed is kept in the history, under the operator's audit entry."""
        now = self.clock()
        with self.store.write() as q:
            # Locked: concurrent changes queue, so each history line records the value it really replaced.
            row = q.rules_row_for_update()
            old = Rules.from_stored(row.stored)
            new = old.changed(**changes)
            diff = old.diff(new)
            if diff:
                row.stored = new.as_dict()
                row.updated_at = now
                audit_id = record(q, actor, Action.RULES_CHANGED, now)
                for name, before, after in diff:
                    q.add_rule_change(now, name, before, after, audit_id)
            return new

    def history(self, limit: int = 200) -> list[dict[str, Any]]:
        with self.store.read() as q:
            return [
                {
                    "changed_at": r.changed_at,
                    "name": r.name,
                    "old_value": r.old_value,
                    "new_value": r.new_value,
                }
                for r in q.latest_rule_changes(limit)
            ]
