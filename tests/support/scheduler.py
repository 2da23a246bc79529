"""Scheduler processes in tests: their logs, the offers they expire, waiting for a moment."""
from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime, timezone

from sqlalchemy import func, select

from dealsvc.adapters.db.models import Fanout, Offer
from tests.support.api import Api

SHOP = (45.4642, 9.1900)
EXPIRED_LOG = re.compile(r"offer (\S+) expired, (-?\d+) ms after its time")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def sleep_until(moment: datetime) -> None:
    left = (moment - now_utc()).total_seconds()
    if left > 0:
        time.sleep(left)


def wait_for_line(process, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in process.new_lines():
            if text in line:
                return line
        assert process.alive(), process.log()
        time.sleep(0.02)
    raise AssertionError(f"no {text!r} within {timeout} s:\n{process.log()}")


def stored_statuses(container, ids) -> dict[str, str]:
    with container.db.read() as s:
        return dict(s.execute(select(Offer.id, Offer.status).where(Offer.id.in_(list(ids)))).all())


def withdrawals(container, ids) -> Counter:
    with container.db.read() as s:
        rows = s.execute(
            select(Fanout.offer_id, func.count())
            .where(Fanout.offer_id.in_(list(ids)), Fanout.kind == "withdraw")
            .group_by(Fanout.offer_id)
        ).all()
    return Counter(dict(rows))


def reserve(api: Api, secret: str, offer_id: str, quantity: int = 1):
    return api.c.post(f"/api/v1/offers/{offer_id}/reservations", json={"quantity": quantity}, headers=api.h(secret))


def listed(api: Api) -> set[str]:
    r = api.c.get(f"/api/v1/deals?lat={SHOP[0]}&lon={SHOP[1]}&radius_m=1000&limit=100")
    assert r.status_code == 200, r.json
    return {item["id"] for item in r.json["items"]}


ELECTED = re.compile(r"scheduler elected \((\S+)\)")


def expiries_logged(*processes) -> Counter:
    return Counter(m.group(1) for p in processes for m in EXPIRED_LOG.finditer(p.log()))
