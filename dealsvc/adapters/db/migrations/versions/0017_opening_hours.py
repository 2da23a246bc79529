"""Shops' opening hours, in OpenStreetMap's opening_hours syntax (null: unknown, counted as open)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 04:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0017'
down_revision: Union[str, Sequence[str], None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # Nullable, no default: every shop there is keeps no hours, i.e. is never held back.
    op.add_column('shops', sa.Column('opening_hours', sa.String(length=255), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    # A plain DROP COLUMN (SQLite has it since 3.35): a batch copy would rebuild a table that
    # offers point at.
    op.drop_column('shops', 'opening_hours')
