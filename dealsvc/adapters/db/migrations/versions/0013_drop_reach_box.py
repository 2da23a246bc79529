"""Drop the subscribers' reach box (min/max lat/lon) and its index: nothing reads them

The reverse radius query has long been answered by the in-memory index of places
(adapters/spatial), which reads lat, lon and radius_m; the box columns were still written on
every change of a resident and read by nothing. The downgrade puts them back, filled in from each
row's place and radius the way the service wrote them (domain/geo.reach_box), with their index.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 01:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BOX = ('min_lat', 'max_lat', 'min_lon', 'max_lon')


def upgrade() -> None:
    """Upgrade schema."""
    # Plain DROP COLUMNs (SQLite has them since 3.35), not batch mode: on SQLite a batch copies and
    # drops the table, which the foreign keys of reservations, favourites and notifications forbid.
    op.drop_index('ix_subscribers_reach', table_name='subscribers')
    for name in BOX:
        op.drop_column('subscribers', name)


def downgrade() -> None:
    """Downgrade schema."""
    from dealsvc.domain.geo import reach_box

    for name in BOX:
        op.add_column('subscribers', sa.Column(name, sa.Float(), nullable=False, server_default='0'))
    subscribers = sa.table('subscribers', sa.column('pk', sa.Integer), sa.column('lat', sa.Float),
                           sa.column('lon', sa.Float), sa.column('radius_m', sa.Integer),
                           *(sa.column(name, sa.Float) for name in BOX))
    bind = op.get_bind()
    rows = bind.execute(sa.select(subscribers.c.pk, subscribers.c.lat, subscribers.c.lon, subscribers.c.radius_m)).all()
    if rows:
        fill = subscribers.update().where(subscribers.c.pk == sa.bindparam('key')).values(
            {name: sa.bindparam(f'new_{name}') for name in BOX})
        boxes = [(pk, reach_box(lat, lon, radius_m)) for pk, lat, lon, radius_m in rows]
        bind.execute(fill, [{'key': pk, **{f'new_{name}': getattr(box, name) for name in BOX}} for pk, box in boxes])
    op.create_index('ix_subscribers_reach', 'subscribers', ['min_lat', 'max_lat'], unique=False)
