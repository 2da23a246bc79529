"""What the outbox's statements share: its tables, the size of one statement's chunk of rows, and
the switch of its hot transactions to index scans."""
from __future__ import annotations

from datetime import datetime, timezone

from ...models import Notification, PushBatch
from ...session import index_scans
from ..base import OnSession

# The most rows (or keys) one statement carries.
INSERT_CHUNK = 2000
NOTIFICATIONS = Notification.__table__
BATCHES = PushBatch.__table__


def naive_utc(moment: datetime) -> datetime:
    """As UTCDateTime stores it (text() statements bypass the column type)."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


class OnOutbox(OnSession):
    def index_scans(self) -> None:
        """The rest of the transaction reads its tables through their indexes (session.py's
        index_scans: PostgreSQL only)."""
        index_scans(self.session)
