"""The outbox leases a batch, not each row: push_batches, and notifications.batch_id

A planned push is written as 'sending' in a batch (notifications.batch_id) and a dispatcher
claims the batch, one row, instead of updating each of its pushes with a lease: a push costs two
row writes (planned, recorded), not three. Pushes claimed on their own (retries, deferrals) keep
their own lease; `ix_notifications_lease` now holds only those (a batch's rows have none), and
`ix_notifications_batch` finds a claimed batch's rows.

The downgrade gives the pushes still waiting in a batch back to the outbox as 'pending' (the
schema before has no batches; they are due since they were planned), then drops the batches.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 04:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0018'
down_revision: Union[str, Sequence[str], None] = '0017'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

SENDING = sa.text("status = 'sending'")
LEASED = sa.text("status = 'sending' AND lease_until IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        'push_batches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('claimed_until', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_push_batches')),
        sqlite_autoincrement=True,
    )
    # Plain ADD/DROP COLUMN and CREATE/DROP INDEX, not batch mode: on SQLite a batch copies the
    # table, which the foreign keys pointing at notifications' neighbours make fragile.
    op.add_column('notifications', sa.Column('batch_id', sa.Integer(), nullable=True))
    op.drop_index('ix_notifications_lease', table_name='notifications')
    op.create_index('ix_notifications_lease', 'notifications', ['lease_until'],
                    postgresql_where=LEASED, sqlite_where=LEASED)
    op.create_index('ix_notifications_batch', 'notifications', ['batch_id'],
                    postgresql_where=SENDING, sqlite_where=SENDING)


def downgrade() -> None:
    op.execute(sa.text(
        "UPDATE notifications SET status = 'pending', batch_id = NULL "
        "WHERE status = 'sending' AND lease_until IS NULL"
    ))
    op.drop_index('ix_notifications_batch', table_name='notifications')
    op.drop_index('ix_notifications_lease', table_name='notifications')
    op.create_index('ix_notifications_lease', 'notifications', ['lease_until'],
                    postgresql_where=SENDING, sqlite_where=SENDING)
    op.drop_column('notifications', 'batch_id')
    op.drop_table('push_batches')
