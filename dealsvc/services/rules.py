"""The operator's rules: read fresh for every request, changed with a history line per rule."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from ..adapters.db import Database
from ..adapters.db.models import OperatorRules, RuleChange
from ..domain.audit import Action, Actor
from ..domain.clock import Clock
from ..domain.rules import Rules
from .audit import record

RULES_ROW = 1
_STORED = select(OperatorRules.stored).where(OperatorRules.id == RULES_ROW)


class RulesService:
    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    def current(self, session=None) -> Rules:
        """The rules in force now (one primary-key read: a PUT applies to the next request)."""
        if session is not None:
            # A plain column read, not session.get(): the ORM's identity load was 14 % of
            # GET /api/v1/deals (bench/api.py --profile). `session` may be a Core connection.
            connection = session if isinstance(session, Connection) else session.connection()
            return Rules.from_stored(connection.execute(_STORED).scalar_one())
        with self.db.read() as s:
            return Rules.from_stored(s.get(OperatorRules, RULES_ROW).stored)

    def update(self, changes: dict[str, Any], actor: Actor | None = None) -> Rules:
        """Apply `changes`; what changed is kept in the history, under the operator's audit entry."""
        now = self.clock()
        with self.db.write() as s:
            # Row lock on PostgreSQL (SQLite's write lock is already held): concurrent PUTs
            # queue, so each history line records the value it really replaced.
            row = s.execute(
                select(OperatorRules).where(OperatorRules.id == RULES_ROW).with_for_update()
            ).scalar_one()
            old = Rules.from_stored(row.stored)
            new = old.changed(**changes)
            diff = old.diff(new)
            if diff:
                row.stored = new.as_dict()
                row.updated_at = now
                audit_id = record(s, actor, Action.RULES_CHANGED, now)
                for name, before, after in diff:
                    s.add(RuleChange(changed_at=now, name=name, old_value=before, new_value=after, audit_id=audit_id))
            return new

    def history(self, limit: int = 200) -> list[dict[str, Any]]:
        with self.db.read() as s:
            rows = s.scalars(
                select(RuleChange).order_by(RuleChange.id.desc()).limit(limit)
            ).all()
            return [
                {
                    "changed_at": r.changed_at,
                    "name": r.name,
                    "old_value": r.old_value,
                    "new_value": r.new_value,
                }
                for r in rows
            ]
