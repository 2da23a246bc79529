"""What the dispatcher's modules share about the outbox: a claimed push, the table, and the
little the statements need to know about the engine."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ...adapters.db.models import Notification
from ...adapters.push import PushMessage

INSERT_CHUNK = 2000
NOTIFICATIONS = Notification.__table__


@dataclass
class Claimed:
    notification_id: int
    subscriber_pk: int
    day: str | None  # the local day whose quota it counts against; None: not counted
    message: PushMessage
    attempts: int


def is_pg(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def naive_utc(moment: datetime) -> datetime:
    """As UTCDateTime stores it (text() statements bypass the column type)."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)
