"""The residents' daily caps (services/dispatch/quota.py): pushes counted per resident per local
day, a batch at a time."""
from __future__ import annotations

from sqlalchemy import text, update
from sqlalchemy.dialects import sqlite

from ...models import PushQuota
from .tables import INSERT_CHUNK, OnOutbox, pg_array

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


class QuotaQueries(OnOutbox):
    def count_up(self, wanted: dict[tuple[int, str], int]) -> dict[tuple[int, str], int]:
        """Each (resident, day) of `wanted`, given in key order, counted up by what it wants;
        the new counts. The rows stay locked until the transaction ends."""
        keys = list(wanted)
        counts: dict[tuple[int, str], int] = {}
        for start in range(0, len(keys), INSERT_CHUNK):
            chunk = keys[start : start + INSERT_CHUNK]
            if self.is_pg:
                rows = self.session.execute(_PG_COUNT_UP, {
                    "pks": pg_array([pk for pk, _ in chunk]), "days": pg_array([day for _, day in chunk]),
                    "wants": pg_array([wanted[key] for key in chunk])})
            else:
                stmt = sqlite.insert(PushQuota).values(
                    [{"subscriber_pk": pk, "day": day, "count": wanted[(pk, day)]} for pk, day in chunk]
                )
                rows = self.session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["subscriber_pk", "day"], set_={"count": PushQuota.count + stmt.excluded.count}
                    ).returning(PushQuota.subscriber_pk, PushQuota.day, PushQuota.count)
                )
            counts.update({(pk, day): count for pk, day, count in rows})
        return counts

    def count_down(self, excess: dict[tuple[int, str], int]) -> None:
        """Each (resident, day) of `excess` counted down by its number (none: no statement)."""
        if not excess:
            return
        if self.is_pg:
            self.session.execute(_PG_COUNT_DOWN, {"pks": pg_array([pk for pk, _ in excess]),
                                                  "days": pg_array([day for _, day in excess]),
                                                  "excess": pg_array(excess.values())})
            return
        for (pk, day), n in excess.items():
            self.session.execute(
                update(PushQuota).where(PushQuota.subscriber_pk == pk, PushQuota.day == day)
                .values(count=PushQuota.count - n)
            )

    def release_quota(self, released: list[tuple[int, str]]) -> None:
        """One push counted back for each (resident, day) of `released` (never below zero). In
        key order, like the claim, so two dispatchers never lock quota rows in a cycle."""
        for pk, day in sorted(released):
            self.session.execute(
                update(PushQuota)
                .where(PushQuota.subscriber_pk == pk, PushQuota.day == day, PushQuota.count > 0)
                .values(count=PushQuota.count - 1)
            )
