"""Residents' data: when a token was last presented, when a resident was deactivated, the privacy
notice they accepted, merchants' erasure, and alerts that outlive their link to a resident

- `subscribers.token_seen_at`: when the app last presented its token. Backfilled with the row's
  `updated_at` (the last time the resident sent anything, a token included), so tokens already
  unseen for long age out as if they had been dated all along.
- `subscribers.deactivated_at`: when `active` last went false. Backfilled for inactive rows with
  `updated_at` (the dispatcher and a new registration stamp it when they deactivate a resident).
- `subscribers.privacy_notice_version`, `privacy_accepted_at`: the notice accepted; empty for
  residents who joined before there was one.
- `merchants.erased_at`: when the operator erased the merchant's personal data.
- `notifications.subscriber_pk` may be null: an alert older than the retention period keeps
  what the offers' stats count and no link to a resident. The downgrade deletes such alerts (the
  older schema has no place for them).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 03:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PENDING = sa.text("status = 'pending'")
SENDING = sa.text("status = 'sending'")


def _notifications_subscriber_nullable(nullable: bool) -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.alter_column('notifications', 'subscriber_pk', existing_type=sa.Integer(), nullable=nullable)
        return
    # SQLite cannot change a column's nullability: batch mode copies the table (nothing points at
    # notifications, so the copy is allowed); its partial indexes are made again explicitly, as a
    # reflected copy would lose their WHERE.
    with op.batch_alter_table('notifications', recreate='always') as batch:
        batch.drop_index('ix_notifications_due')
        batch.drop_index('ix_notifications_lease')
        batch.alter_column('subscriber_pk', existing_type=sa.Integer(), nullable=nullable)
        batch.create_index('ix_notifications_due', ['due_at'], postgresql_where=PENDING, sqlite_where=PENDING)
        batch.create_index('ix_notifications_lease', ['lease_until'], postgresql_where=SENDING, sqlite_where=SENDING)


def upgrade() -> None:
    """Upgrade schema."""
    # Plain ADD COLUMNs on subscribers and merchants: a batch copy of either is forbidden by the
    # foreign keys that point at them.
    op.add_column('subscribers', sa.Column('token_seen_at', sa.DateTime(), nullable=True))
    op.add_column('subscribers', sa.Column('deactivated_at', sa.DateTime(), nullable=True))
    op.add_column('subscribers', sa.Column('privacy_notice_version', sa.String(length=16), nullable=True))
    op.add_column('subscribers', sa.Column('privacy_accepted_at', sa.DateTime(), nullable=True))
    op.add_column('merchants', sa.Column('erased_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE subscribers SET token_seen_at = updated_at WHERE fcm_token <> ''")
    op.execute("UPDATE subscribers SET deactivated_at = updated_at WHERE NOT active AND deleted_at IS NULL")
    op.create_index('ix_subscribers_token_seen_at', 'subscribers', ['token_seen_at'], unique=False)
    op.create_index('ix_subscribers_deactivated_at', 'subscribers', ['deactivated_at'], unique=False)
    _notifications_subscriber_nullable(True)


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DELETE FROM notifications WHERE subscriber_pk IS NULL")
    _notifications_subscriber_nullable(False)
    op.drop_index('ix_subscribers_deactivated_at', table_name='subscribers')
    op.drop_index('ix_subscribers_token_seen_at', table_name='subscribers')
    op.drop_column('merchants', 'erased_at')
    op.drop_column('subscribers', 'privacy_accepted_at')
    op.drop_column('subscribers', 'privacy_notice_version')
    op.drop_column('subscribers', 'deactivated_at')
    op.drop_column('subscribers', 'token_seen_at')
