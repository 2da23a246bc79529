"""shops.updated_at (each process's in-memory shop index reads the rows changed since it last
looked) and an index for the live offers of given shops (the deals listing)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE shops SET updated_at = created_at")
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.alter_column('updated_at', existing_type=sa.DateTime(), nullable=False)
        batch_op.create_index(batch_op.f('ix_shops_updated_at'), ['updated_at'], unique=False)
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index('ix_offers_shop_live', ['shop_id', 'status', 'expires_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index('ix_offers_shop_live')
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shops_updated_at'))
        batch_op.drop_column('updated_at')
