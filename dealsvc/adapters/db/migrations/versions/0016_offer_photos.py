"""An offer's photo: the media store's names of its large version and its thumbnail

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 04:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0016'
down_revision: Union[str, Sequence[str], None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = ('photo', 'thumbnail')


def upgrade() -> None:
    """Upgrade schema."""
    # Plain ADD/DROP COLUMNs, not batch mode: on SQLite a batch copies and drops the table, which
    # the foreign keys of reservations and notifications forbid.
    for name in COLUMNS:
        op.add_column('offers', sa.Column(name, sa.String(length=80), nullable=True))


def downgrade() -> None:
    """Downgrade schema (the files stay in the media store)."""
    for name in reversed(COLUMNS):
        op.drop_column('offers', name)
