"""initial schema: merchants, shops, offers, subscribers, operator rules and their history

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 13:38:34.218361

"""
from datetime import datetime, timezone
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    
    op.create_table('geocode_cache',
    sa.Column('query', sa.String(length=500), nullable=False),
    sa.Column('found', sa.Boolean(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('display_name', sa.String(length=1000), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('query', name=op.f('pk_geocode_cache'))
    )
    op.create_table('merchants',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('api_key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchants')),
    sa.UniqueConstraint('api_key_hash', name=op.f('uq_merchants_api_key_hash')),
    sa.UniqueConstraint('email', name=op.f('uq_merchants_email'))
    )
    op.create_table('operator_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stored', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_rules'))
    )
    op.create_table('rule_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('old_value', sa.JSON(), nullable=False),
    sa.Column('new_value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_changes'))
    )
    with op.batch_alter_table('rule_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rule_changes_changed_at'), ['changed_at'], unique=False)

    op.create_table('subscribers',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('fcm_token', sa.String(length=4096), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('radius_m', sa.Integer(), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('quiet_start', sa.String(length=5), nullable=True),
    sa.Column('quiet_end', sa.String(length=5), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('max_per_day', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('min_lat', sa.Float(), nullable=False),
    sa.Column('max_lat', sa.Float(), nullable=False),
    sa.Column('min_lon', sa.Float(), nullable=False),
    sa.Column('max_lon', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_subscribers')),
    sa.UniqueConstraint('id', name=op.f('uq_subscribers_id')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_subscribers_secret_hash'))
    )
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscribers_active'), ['active'], unique=False)
        batch_op.create_index('ix_subscribers_fcm_token', ['fcm_token'], unique=False)
        batch_op.create_index('ix_subscribers_reach', ['min_lat', 'max_lat'], unique=False)

    op.create_table('shops',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=True),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_shops_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shops'))
    )
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.create_index('ix_shops_lat_lon', ['lat', 'lon'], unique=False)
        batch_op.create_index(batch_op.f('ix_shops_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('offers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('original_price_cents', sa.Integer(), nullable=False),
    sa.Column('price_cents', sa.Integer(), nullable=False),
    sa.Column('discount_pct', sa.Float(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('quantity_left', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('image_url', sa.String(length=2048), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_offers_shop_id_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offers_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index('ix_offers_status_expires_at', ['status', 'expires_at'], unique=False)




    # The single row of rules in force; empty means every rule at its default.
    rules = sa.table(
        "operator_rules",
        sa.column("id", sa.Integer),
        sa.column("stored", sa.JSON),
        sa.column("updated_at", sa.DateTime),
    )
    op.bulk_insert(rules, [{"id": 1, "stored": {}, "updated_at": datetime.now(timezone.utc).replace(tzinfo=None)}])


def downgrade() -> None:
    """Downgrade schema."""
    
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index('ix_offers_status_expires_at')
        batch_op.drop_index(batch_op.f('ix_offers_shop_id'))

    op.drop_table('offers')
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shops_merchant_id'))
        batch_op.drop_index('ix_shops_lat_lon')

    op.drop_table('shops')
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_index('ix_subscribers_reach')
        batch_op.drop_index('ix_subscribers_fcm_token')
        batch_op.drop_index(batch_op.f('ix_subscribers_active'))

    op.drop_table('subscribers')
    with op.batch_alter_table('rule_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rule_changes_changed_at'))

    op.drop_table('rule_changes')
    op.drop_table('operator_rules')
    op.drop_table('merchants')
    op.drop_table('geocode_cache')

