"""Holds end by themselves: reservations.expires_at (hold_minutes after the hold, or the offer's
end if sooner), filled in for the reservations already there, and the indexes the scheduler
reads holds by

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 21:00:00.000000

"""
from datetime import timedelta
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The rule's default when the hold was made (there was no rule then); a hold older than this
# that is still held ends at the scheduler's first sweep and its stock goes back.
HOLD_MINUTES = 30
_BATCH = 1000


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))
    conn = op.get_bind()
    reservations = sa.table(
        'reservations', sa.column('id', sa.String), sa.column('offer_id', sa.String),
        sa.column('created_at', sa.DateTime), sa.column('expires_at', sa.DateTime),
    )
    offers = sa.table('offers', sa.column('id', sa.String), sa.column('expires_at', sa.DateTime))
    # In Python, not SQL: date arithmetic is spelled differently on each engine.
    rows = conn.execute(
        sa.select(reservations.c.id, reservations.c.created_at, offers.c.expires_at)
        .join(offers, offers.c.id == reservations.c.offer_id)
    ).all()
    update = (
        reservations.update()
        .where(reservations.c.id == sa.bindparam('r_id'))
        .values(expires_at=sa.bindparam('r_expires_at'))
    )
    values = [
        {'r_id': r_id, 'r_expires_at': min(created_at + timedelta(minutes=HOLD_MINUTES), offer_expires_at)}
        for r_id, created_at, offer_expires_at in rows
    ]
    for start in range(0, len(values), _BATCH):
        conn.execute(update, values[start:start + _BATCH])
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.alter_column('expires_at', existing_type=sa.DateTime(), nullable=False)
        batch_op.create_index('ix_reservations_status_expires_at', ['status', 'expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_reservations_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reservations_created_at'))
        batch_op.drop_index('ix_reservations_status_expires_at')
        batch_op.drop_column('expires_at')
