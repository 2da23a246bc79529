"""Smarter alerts: residents' extra places and favourite shops, price-drop opt-in, offers'
price steps, numbered fan-outs (waves and price steps)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 19:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'subscriber_places',
        sa.Column('subscriber_pk', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=32), nullable=False),
        sa.Column('lat', sa.Float(), nullable=False),
        sa.Column('lon', sa.Float(), nullable=False),
        sa.Column('radius_m', sa.Integer(), nullable=False),
        sa.Column('days', sa.Integer(), nullable=False),
        sa.Column('hours_start', sa.String(length=5), nullable=True),
        sa.Column('hours_end', sa.String(length=5), nullable=True),
        sa.ForeignKeyConstraint(['subscriber_pk'], ['subscribers.pk'], name=op.f('fk_subscriber_places_subscriber_pk_subscribers')),
        sa.PrimaryKeyConstraint('subscriber_pk', 'position', name=op.f('pk_subscriber_places')),
    )
    op.create_table(
        'favorites',
        sa.Column('subscriber_pk', sa.Integer(), nullable=False),
        sa.Column('shop_id', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['subscriber_pk'], ['subscribers.pk'], name=op.f('fk_favorites_subscriber_pk_subscribers')),
        sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_favorites_shop_id_shops')),
        sa.PrimaryKeyConstraint('subscriber_pk', 'shop_id', name=op.f('pk_favorites')),
    )
    op.create_index(op.f('ix_favorites_shop_id'), 'favorites', ['shop_id'], unique=False)
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('price_drops', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('price_steps', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('price_step', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('next_step_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_offers_next_step_at'), ['next_step_at'], unique=False)
    with op.batch_alter_table('fanouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=False, server_default='1'))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('fanouts', schema=None) as batch_op:
        batch_op.drop_column('seq')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offers_next_step_at'))
        batch_op.drop_column('next_step_at')
        batch_op.drop_column('price_step')
        batch_op.drop_column('price_steps')
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_column('price_drops')
    op.drop_index(op.f('ix_favorites_shop_id'), table_name='favorites')
    op.drop_table('favorites')
    op.drop_table('subscriber_places')
