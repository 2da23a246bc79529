"""The outbox's indexes leave out the columns a push's recording writes: its update is HOT

Recording a batch's sent push rewrote every index entry of its row (primary key, the unique
triple, the resident's index): the partial indexes of the outbox named `status` in their
predicates, and PostgreSQL updates a row in place (HOT, no index entry written) only when no
column an index names changes. Now:

- `ix_notifications_due` holds the pending pushes by `pending_due_at`, their due time while they
  are pending and NULL otherwise (filled in here from `due_at` for the pending rows);
- `ix_notifications_lease` holds the rows with a lease of their own (`lease_until` set: only
  pushes claimed on their own have one, and every step out of 'sending' clears it);
- `ix_notifications_batch` holds the rows planned in a batch (`batch_id` set; a sent push keeps
  its batch's id, a batch's id is never reused);
- on PostgreSQL the table's pages are filled to 40 % (fillfactor): a batch's pushes are recorded
  in one transaction, and each page keeps room for the new versions of the rows it holds.

The downgrade puts the indexes of 0018 back and drops the column.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 08:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0020'
down_revision: Union[str, Sequence[str], None] = '0019'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FILLFACTOR = 40
INDEXES_0018 = (
    ('ix_notifications_due', 'due_at', "status = 'pending'"),
    ('ix_notifications_lease', 'lease_until', "status = 'sending' AND lease_until IS NOT NULL"),
    ('ix_notifications_batch', 'batch_id', "status = 'sending'"),
)
INDEXES_0020 = (
    ('ix_notifications_due', 'pending_due_at', "pending_due_at IS NOT NULL"),
    ('ix_notifications_lease', 'lease_until', "lease_until IS NOT NULL"),
    ('ix_notifications_batch', 'batch_id', "batch_id IS NOT NULL"),
)


def _drop(indexes) -> None:
    # Plain CREATE/DROP INDEX, not batch mode (see 0018).
    for name, _column, _where in indexes:
        op.drop_index(name, table_name='notifications')


def _create(indexes) -> None:
    for name, column, where in indexes:
        op.create_index(name, 'notifications', [column], postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def upgrade() -> None:
    op.add_column('notifications', sa.Column('pending_due_at', sa.DateTime(), nullable=True))
    op.execute(sa.text("UPDATE notifications SET pending_due_at = due_at WHERE status = 'pending'"))
    # Only a push claimed on its own, while 'sending', has a lease of its own.
    op.execute(sa.text("UPDATE notifications SET lease_until = NULL WHERE status <> 'sending' AND lease_until IS NOT NULL"))
    _drop(INDEXES_0018)
    _create(INDEXES_0020)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.text(f"ALTER TABLE notifications SET (fillfactor = {FILLFACTOR})"))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.text("ALTER TABLE notifications RESET (fillfactor)"))
    _drop(INDEXES_0020)
    _create(INDEXES_0018)
    op.drop_column('notifications', 'pending_due_at')
