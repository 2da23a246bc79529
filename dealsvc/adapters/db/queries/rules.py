"""The operator's rules and their history."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from ..models import OperatorRules, RuleChange
from .base import OnSession

RULES_ROW = 1
_STORED = select(OperatorRules.stored).where(OperatorRules.id == RULES_ROW)


class RuleQueries(OnSession):
    def stored_rules(self) -> dict[str, Any] | None:
        """The rules row's stored values. A plain column read, not session.get(): the ORM's
        identity load was 14 % of GET /api/v1/deals (bench/api.py --profile). The session may be
        a Core connection (Database.read_statements)."""
        s = self.session
        connection = s if isinstance(s, Connection) else s.connection()
        return connection.execute(_STORED).scalar_one()

    def rules_row_for_update(self) -> OperatorRules:
        """The rules row, locked on PostgreSQL until the transaction ends (SQLite's write lock is
        already held): concurrent changes queue."""
        return self.session.execute(
            select(OperatorRules).where(OperatorRules.id == RULES_ROW).with_for_update()
        ).scalar_one()

    def add_rule_change(self, changed_at: datetime, name: str, old_value: Any, new_value: Any,
                        audit_id: int | None) -> None:
        self.session.add(RuleChange(changed_at=changed_at, name=name, old_value=old_value, new_value=new_value,
                                    audit_id=audit_id))

    def latest_rule_changes(self, limit: int) -> list[RuleChange]:
        """The newest first."""
        return list(self.session.scalars(select(RuleChange).order_by(RuleChange.id.desc()).limit(limit)))

    def rule_changes_of_audit_entries(self, audit_ids: list[int]) -> list[RuleChange]:
        """The changes the given audit entries made, in the order they were made."""
        if not audit_ids:
            return []
        return list(self.session.scalars(
            select(RuleChange).where(RuleChange.audit_id.in_(audit_ids)).order_by(RuleChange.id)
        ))
