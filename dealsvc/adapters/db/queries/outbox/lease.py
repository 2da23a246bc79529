"""The lease heartbeat's statements (services/dispatch/lease.py): the lease of the batches and of
the pushes a claim still holds, renewed; rows locked by anyone else (the lane recording this very
batch) are skipped, not waited for, so the heartbeat can never be one side of a deadlock."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, text

from .....domain.outbox import PushStatus
from ...models import UTCDateTime
from .tables import OnOutbox, naive_utc, pg_array

# The rows a claim still holds (a takeover changed status or attempts).
_PG_RENEW = text(
    "UPDATE notifications AS n SET lease_until = :lease WHERE n.id IN (SELECT m.id FROM notifications AS m "
    "JOIN unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[])) AS v(id, attempts) "
    f"ON m.id = v.id AND m.attempts = v.attempts WHERE m.status = '{PushStatus.SENDING}' FOR UPDATE OF m SKIP LOCKED)"
)
_SQLITE_RENEW = text(
    "UPDATE notifications SET lease_until = :lease WHERE id = :nid AND attempts = :attempts "
    f"AND status = '{PushStatus.SENDING}'"
).bindparams(bindparam("lease", type_=UTCDateTime))
# The same for batches: the claim of each still held (same attempts).
_PG_RENEW_BATCHES = text(
    "UPDATE push_batches AS b SET claimed_until = :lease WHERE b.id IN (SELECT c.id FROM push_batches AS c "
    "JOIN unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[])) AS v(id, attempts) "
    "ON c.id = v.id AND c.attempts = v.attempts FOR UPDATE OF c SKIP LOCKED)"
)
_SQLITE_RENEW_BATCHES = text(
    "UPDATE push_batches SET claimed_until = :lease WHERE id = :nid AND attempts = :attempts"
).bindparams(bindparam("lease", type_=UTCDateTime))


class LeaseQueries(OnOutbox):
    def renew_batch_leases(self, held: list[tuple[int, int]], lease: datetime) -> None:
        """Each (batch id, the claim's attempts) of `held` claimed until `lease`, if that claim
        still holds it (none: no statement)."""
        self._renew(held, lease, _PG_RENEW_BATCHES, _SQLITE_RENEW_BATCHES)

    def renew_push_leases(self, held: list[tuple[int, int]], lease: datetime) -> None:
        """Each (notification id, the claim's attempts) of `held` leased until `lease`, if it is
        still sending in that claim (none: no statement)."""
        self._renew(held, lease, _PG_RENEW, _SQLITE_RENEW)

    def _renew(self, held: list[tuple[int, int]], lease: datetime, pg, sqlite) -> None:
        if not held:
            return
        if self.is_pg:
            self.session.execute(pg, {"lease": naive_utc(lease), "ids": pg_array([key for key, _ in held]),
                                      "attempts": pg_array([attempts for _, attempts in held])})
        else:
            self.session.execute(sqlite, [{"lease": lease, "nid": key, "attempts": attempts} for key, attempts in held])
