"""push outbox: fan-out promises, one notification per (offer, subscriber), daily quota counts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 13:46:36.582351

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table('push_quota',
    sa.Column('subscriber_pk', sa.Integer(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_pk'], ['subscribers.pk'], name=op.f('fk_push_quota_subscriber_pk_subscribers')),
    sa.PrimaryKeyConstraint('subscriber_pk', 'day', name=op.f('pk_push_quota'))
    )
    op.create_table('fanouts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('offer_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.Column('matched', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_fanouts_offer_id_offers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fanouts'))
    )
    with op.batch_alter_table('fanouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fanouts_offer_id'), ['offer_id'], unique=False)
        batch_op.create_index('ix_fanouts_pending', ['done_at', 'due_at'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('offer_id', sa.String(length=40), nullable=False),
    sa.Column('subscriber_pk', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('fcm_message_id', sa.String(length=200), nullable=True),
    sa.Column('distance_m', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_notifications_offer_id_offers')),
    sa.ForeignKeyConstraint(['subscriber_pk'], ['subscribers.pk'], name=op.f('fk_notifications_subscriber_pk_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('offer_id', 'subscriber_pk', name='uq_notifications_offer_subscriber')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_due', ['status', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_offer_id'), ['offer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_subscriber_pk'), ['subscriber_pk'], unique=False)

    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_subscribers_updated_at'), ['updated_at'], unique=False)




def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscribers_updated_at'))
        batch_op.drop_column('deleted_at')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_subscriber_pk'))
        batch_op.drop_index(batch_op.f('ix_notifications_offer_id'))
        batch_op.drop_index('ix_notifications_due')

    op.drop_table('notifications')
    with op.batch_alter_table('fanouts', schema=None) as batch_op:
        batch_op.drop_index('ix_fanouts_pending')
        batch_op.drop_index(batch_op.f('ix_fanouts_offer_id'))

    op.drop_table('fanouts')
    op.drop_table('push_quota')

