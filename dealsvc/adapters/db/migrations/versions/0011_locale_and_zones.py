"""Subscribers' locale; time zones from places: shops get theirs, defaulted residents theirs

Everything is worked out from the rows alone (coordinates -> zone through the offline lookup),
never from the environment of the process that runs the migration, so every database ends up
the same whatever DEALSVC_* variables were set where `migrate` ran.

- `locale`: 'en' for every existing resident (the column's server default). Until 0011 every push
  was in English: they keep getting what they signed up to until they send a locale. The
  service's DEALSVC_DEFAULT_LOCALE decides only for sign-ups that send no locale and no
  Accept-Language the service speaks; it is no fact about rows already written.
- `timezone_auto`: schema 0010 has no such flag; there, a resident who sent no timezone has 'UTC'
  (the old default). So 'UTC' reads as "never chosen": automatic, and it becomes the zone of the
  resident's place; any other zone was sent by the resident and stays theirs (explicit). The
  downgrade writes automatic zones back as 'UTC', the way 0010 records "none sent", so that a
  later upgrade finds them automatic again: a down/up round trip keeps which zones were automatic,
  and a resident who moved while on 0010 gets the zone of the new place. (While on 0010 they are
  on UTC, as 0010 has everyone who sent none.) The one thing 0010 cannot hold is a resident who
  chose 'UTC' themselves: like every 'UTC' of 0010, it comes back automatic.
  (Calling automatic every zone equal to the lookup of the coordinates would be worse: the many
  residents in Milan who sent Europe/Rome would silently lose their choice on their next move, and
  one who moved while on 0010 would keep the zone of the old place for good.)
- shops' `timezone`: the zone of their coordinates, recomputed on every upgrade.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 22:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    from dealsvc.adapters.timezones import time_zones

    # Plain ADD COLUMNs (SQLite has them), not batch mode: on SQLite a batch copies and drops the
    # table, which the foreign keys of reservations, favourites and notifications forbid once
    # rows point at it.
    op.add_column('subscribers', sa.Column('locale', sa.String(length=8), nullable=False, server_default='en'))
    op.add_column('subscribers', sa.Column('timezone_auto', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column('shops', sa.Column('timezone', sa.String(length=64), nullable=False, server_default='UTC'))

    bind = op.get_bind()
    subscribers = sa.table(
        'subscribers', sa.column('pk', sa.Integer), sa.column('lat', sa.Float), sa.column('lon', sa.Float),
        sa.column('timezone', sa.String), sa.column('timezone_auto', sa.Boolean), sa.column('locale', sa.String),
        sa.column('deleted_at', sa.DateTime),
    )
    shops = sa.table('shops', sa.column('id', sa.String), sa.column('lat', sa.Float), sa.column('lon', sa.Float),
                     sa.column('timezone', sa.String))
    # locale: the server default 'en' (see above). A timezone other than UTC was sent by the
    # resident: it stays, and stays theirs. 'UTC' is 0010's "none sent": the zone of their place.
    bind.execute(sa.update(subscribers).where(subscribers.c.timezone != 'UTC').values(timezone_auto=False))
    by_zone: dict[str, list] = {}
    for pk, lat, lon in bind.execute(
        sa.select(subscribers.c.pk, subscribers.c.lat, subscribers.c.lon)
        .where(subscribers.c.timezone == 'UTC', subscribers.c.deleted_at.is_(None))
    ).all():
        by_zone.setdefault(time_zones.zone_at(lat, lon), []).append(pk)
    _set_zones(bind, subscribers, subscribers.c.pk, by_zone)
    by_zone = {}
    for shop_id, lat, lon in bind.execute(sa.select(shops.c.id, shops.c.lat, shops.c.lon)).all():
        by_zone.setdefault(time_zones.zone_at(lat, lon), []).append(shop_id)
    _set_zones(bind, shops, shops.c.id, by_zone)


def _set_zones(bind, table, key, by_zone: dict[str, list]) -> None:
    """One UPDATE per zone and thousand rows, not one per row."""
    for zone, keys in by_zone.items():
        if zone == 'UTC':
            continue
        for start in range(0, len(keys), 1000):
            bind.execute(sa.update(table).where(key.in_(keys[start:start + 1000])).values(timezone=zone))


def downgrade() -> None:
    """Downgrade schema."""
    # Automatic zones go back to 0010's "none sent" ('UTC'), so an upgrade finds them automatic.
    subscribers = sa.table('subscribers', sa.column('timezone', sa.String), sa.column('timezone_auto', sa.Boolean))
    op.get_bind().execute(
        sa.update(subscribers).where(subscribers.c.timezone_auto.is_(True)).values(timezone='UTC')
    )
    # Plain DROP COLUMNs (SQLite 3.35+), for the same reason as above.
    op.drop_column('shops', 'timezone')
    op.drop_column('subscribers', 'timezone_auto')
    op.drop_column('subscribers', 'locale')
