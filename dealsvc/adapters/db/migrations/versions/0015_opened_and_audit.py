"""When a resident opened a push, and the operator's audit

notifications.opened_at: when the resident it was sent to opened it (the web app's service worker
or a native app reports it), the "opened" step of what the alerts earned. operator_audit: every
operator action with who (the credential or console session), when and what. A change of rules
keeps its values in rule_changes as before; each line there names its audit entry (audit_id).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 03:45:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # Plain ADD/DROP COLUMNs, not batch mode: on SQLite a batch copies and drops the table, which
    # the foreign keys pointing at notifications forbid.
    op.add_column('notifications', sa.Column('opened_at', sa.DateTime(), nullable=True))
    op.create_table(
        'operator_audit',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('actor_kind', sa.String(length=16), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('target', sa.String(length=64), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_audit')),
    )
    op.create_index(op.f('ix_operator_audit_at'), 'operator_audit', ['at'], unique=False)
    op.add_column('rule_changes', sa.Column('audit_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_rule_changes_audit_id'), 'rule_changes', ['audit_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f('ix_rule_changes_audit_id'), table_name='rule_changes')
    op.drop_column('rule_changes', 'audit_id')
    op.drop_index(op.f('ix_operator_audit_at'), table_name='operator_audit')
    op.drop_table('operator_audit')
    op.drop_column('notifications', 'opened_at')
