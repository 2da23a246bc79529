"""The residents' daily caps: pushes counted per resident per local day, a batch at a time."""
from __future__ import annotations

from sqlalchemy import text, update
from sqlalchemy.dialects import sqlite

from ...adapters.db.models import PushQuota
from .outbox import INSERT_CHUNK, is_pg

# One statement per batch: every (resident, day) of the batch counted up by what the batch
# wants of it, in key order (two claimers never lock quota rows in a cycle), each row's new
# count returned. A row is locked until the claim commits, so the next claimer of the same
# resident reads the count this one leaves.
_PG_COUNT_UP = text(
    "INSERT INTO push_quota AS q (subscriber_pk, day, count) SELECT pk, day, want FROM "
    "unnest(CAST(:pks AS integer[]), CAST(:days AS varchar[]), CAST(:wants AS integer[])) AS v(pk, day, want) "
    "ORDER BY pk, day ON CONFLICT (subscriber_pk, day) DO UPDATE SET count = q.count + EXCLUDED.count "
    "RETURNING q.subscriber_pk, q.day, q.count"
)
# What a batch wanted beyond a cap, given back (only when someone is at their cap).
_PG_COUNT_DOWN = text(
    "UPDATE push_quota AS q SET count = q.count - v.excess FROM unnest(CAST(:pks AS integer[]), "
    "CAST(:days AS varchar[]), CAST(:excess AS integer[])) AS v(pk, day, excess) "
    "WHERE q.subscriber_pk = v.pk AND q.day = v.day"
)


def reserve(s, wants: dict[tuple[int, str], tuple[int, int]]) -> dict[tuple[int, str], int]:
    """Counts the pushes of a batch against their residents' caps: `wants` maps (resident,
    day) to (pushes wanted, the resident's cap); returns how many of them each may have."""
    keys = sorted(wants)
    counts: dict[tuple[int, str], int] = {}
    for start in range(0, len(keys), INSERT_CHUNK):
        chunk = keys[start : start + INSERT_CHUNK]
        if is_pg(s):
            rows = s.execute(_PG_COUNT_UP, {"pks": [pk for pk, _ in chunk], "days": [day for _, day in chunk],
                                            "wants": [wants[key][0] for key in chunk]})
        else:
            stmt = sqlite.insert(PushQuota).values(
                [{"subscriber_pk": pk, "day": day, "count": wants[(pk, day)][0]} for pk, day in chunk]
            )
            rows = s.execute(
                stmt.on_conflict_do_update(
                    index_elements=["subscriber_pk", "day"], set_={"count": PushQuota.count + stmt.excluded.count}
                ).returning(PushQuota.subscriber_pk, PushQuota.day, PushQuota.count)
            )
        counts.update({(pk, day): count for pk, day, count in rows})
    admitted: dict[tuple[int, str], int] = {}
    excess: dict[tuple[int, str], int] = {}
    for key in keys:
        want, cap = wants[key]
        before = counts[key] - want
        admitted[key] = max(0, min(want, cap - before))
        if admitted[key] < want:
            excess[key] = want - admitted[key]
    _count_down(s, excess)
    return admitted


def _count_down(s, excess: dict[tuple[int, str], int]) -> None:
    if not excess:
        return
    if is_pg(s):
        s.execute(_PG_COUNT_DOWN, {"pks": [pk for pk, _ in excess], "days": [day for _, day in excess],
                                   "excess": list(excess.values())})
        return
    for (pk, day), n in excess.items():
        s.execute(
            update(PushQuota).where(PushQuota.subscriber_pk == pk, PushQuota.day == day)
            .values(count=PushQuota.count - n)
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
