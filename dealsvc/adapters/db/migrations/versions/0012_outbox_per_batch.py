"""The outbox's indexes for per-batch work: a push's two row updates touch fewer of them

A notification is written three times (planned, claimed, sent), and every write that changes its
status adds an entry to each of its indexes. Two of them were dead weight on that path:
- `ix_notifications_offer_id` repeats the first column of the unique (offer_id, subscriber_pk,
  kind): every lookup by offer uses that one as well.
- `ix_notifications_due` (status, due_at) held every row ever written, sent ones included. The
  claim only reads the pushes that are due (pending, by due_at) and those whose lease ran out
  (sending, by lease_until): two partial indexes hold exactly those, and a push that is sent
  leaves both.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 01:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PENDING = sa.text("status = 'pending'")
SENDING = sa.text("status = 'sending'")


def upgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.drop_index('ix_notifications_offer_id')
        batch.drop_index('ix_notifications_due')
        batch.create_index('ix_notifications_due', ['due_at'], postgresql_where=PENDING, sqlite_where=PENDING)
        batch.create_index('ix_notifications_lease', ['lease_until'], postgresql_where=SENDING, sqlite_where=SENDING)


def downgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.drop_index('ix_notifications_lease')
        batch.drop_index('ix_notifications_due')
        batch.create_index('ix_notifications_due', ['status', 'due_at'])
        batch.create_index('ix_notifications_offer_id', ['offer_id'])
