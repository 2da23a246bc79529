"""Keep what a shop's funnel counts of an alert when the retention period cuts its resident

An alert older than DEALSVC_RETENTION_DAYS loses its resident and its distance
(services/retention.py); a shop's funnel worked its ring, and whether the resident opened,
reserved and collected, from exactly those. The alert now keeps those four facts (and nothing
that says who or where), written just before the link is cut. Nullable, nothing to fill in:
alerts cut before this had already lost them. The downgrade drops them.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 05:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0019'
down_revision: Union[str, Sequence[str], None] = '0018'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = (
    ('kept_ring', sa.String(length=16)),
    ('kept_opened', sa.Boolean()),
    ('kept_reserved', sa.Boolean()),
    ('kept_collected', sa.Boolean()),
)


def upgrade() -> None:
    """Upgrade schema."""
    for name, kind in COLUMNS:
        op.add_column('notifications', sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    # Plain DROP COLUMNs (SQLite has them since 3.35): nothing indexes these columns.
    for name, _kind in reversed(COLUMNS):
        op.drop_column('notifications', name)
