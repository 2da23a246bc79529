"""The residents' daily caps: pushes counted per resident per local day, a batch at a time."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import bindparam, select, text, update

from ...adapters.db.models import PushQuota
from .outbox import INSERT_CHUNK, insert, is_pg

_PG_QUOTA_ROWS = text(
    "INSERT INTO push_quota (subscriber_pk, day, count) SELECT pk, day, 0 FROM "
    "unnest(CAST(:pks AS integer[]), CAST(:days AS varchar[])) AS v(pk, day) ON CONFLICT DO NOTHING"
)
_PG_QUOTA_COUNTS = text(
    "UPDATE push_quota AS q SET count = v.count FROM unnest(CAST(:pks AS integer[]), "
    "CAST(:days AS varchar[]), CAST(:counts AS integer[])) AS v(pk, day, count) "
    "WHERE q.subscriber_pk = v.pk AND q.day = v.day"
)


def lock_quota(s, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
    keys = sorted(keys)
    if not keys:
        return {}
    if is_pg(s):
        s.execute(_PG_QUOTA_ROWS, {"pks": [pk for pk, _ in keys], "days": [day for _, day in keys]})
    else:
        s.execute(
            insert(s)(PushQuota.__table__).on_conflict_do_nothing(index_elements=["subscriber_pk", "day"]),
            [{"subscriber_pk": pk, "day": day, "count": 0} for pk, day in keys],
        )
    # One statement, locked in key order: two dispatchers never wait on each other in a cycle.
    counts: dict[tuple[int, str], int] = {}
    for start in range(0, len(keys), INSERT_CHUNK):
        chunk = keys[start : start + INSERT_CHUNK]
        # Two IN lists walk the primary key; a batch has one or two local days, so the
        # few extra rows it may lock (same resident, the other day) cost nothing.
        rows = s.execute(
            select(PushQuota.subscriber_pk, PushQuota.day, PushQuota.count)
            .where(
                PushQuota.subscriber_pk.in_({pk for pk, _ in chunk}),
                PushQuota.day.in_({day for _, day in chunk}),
            )
            .order_by(PushQuota.subscriber_pk, PushQuota.day)
            .with_for_update()
        )
        counts.update({(pk, day): count for pk, day, count in rows})
    return counts


def store_quota(s, quota: dict[tuple[int, str], int]) -> None:
    if not quota:
        return
    if is_pg(s):
        s.execute(_PG_QUOTA_COUNTS, {"pks": [pk for pk, _ in quota], "days": [day for _, day in quota],
                                     "counts": list(quota.values())})
        return
    table = PushQuota.__table__
    s.execute(
        table.update()
        .where(table.c.subscriber_pk == bindparam("k_pk"), table.c.day == bindparam("k_day"))
        .values(count=bindparam("k_count")),
        [{"k_pk": pk, "k_day": day, "k_count": count} for (pk, day), count in quota.items()],
    )



def release_quota(s, released: list[tuple[int, str]]) -> None:
    """Gives back the counts of pushes that were not delivered. In key order, like the claim,
    so two dispatchers never lock quota rows in a cycle."""
    for pk, day in sorted(released):
        s.execute(
            update(PushQuota)
            .where(PushQuota.subscriber_pk == pk, PushQuota.day == day, PushQuota.count > 0)
            .values(count=PushQuota.count - 1)
        )
