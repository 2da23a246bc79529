"""What the FCM emulator received, per token, and the faults it must answer with, kept in memory."""
from __future__ import annotations

import copy
import itertools
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

FAULT_KINDS = ("unregistered", "invalid", "mismatch", "unavailable", "quota", "internal", "bad_request")
DEFAULT_QUOTA_RETRY_AFTER = 2


@dataclass(frozen=True)
class Fault:
    """An outcome forced on a token: `times` answers (None: every answer), then normal delivery."""

    kind: str
    times: int | None = None
    # Sent as Retry-After with quota (default 2) and, when given, with unavailable.
    retry_after: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; one of {', '.join(FAULT_KINDS)}")
        if self.times is not None and (isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 1):
            raise ValueError("times must be a positive integer, or None for every time")
        if self.retry_after is not None and (
            isinstance(self.retry_after, bool) or not isinstance(self.retry_after, int) or self.retry_after < 0
        ):
            raise ValueError("retry_after must be a non-negative integer of seconds")

    def to_json(self) -> dict[str, Any]:
        return {"fault": self.kind, "times": self.times, "retry_after": self.effective_retry_after}

    @property
    def effective_retry_after(self) -> int | None:
        if self.kind == "quota":
            return DEFAULT_QUOTA_RETRY_AFTER if self.retry_after is None else self.retry_after
        if self.kind == "unavailable":
            return self.retry_after
        return None


# The development convention: a token's prefix picks its outcome, so a demo needs no API call.
# Longest prefixes first, so that "unavailable-once-" is never read as something shorter.
TOKEN_PREFIX_FAULTS: tuple[tuple[str, Fault], ...] = (
    ("unavailable-once-", Fault("unavailable", times=1)),
    ("unregistered-", Fault("unregistered")),
    ("mismatch-", Fault("mismatch")),
    ("internal-", Fault("internal")),
    ("badrequest-", Fault("bad_request")),
    ("invalid-", Fault("invalid")),
    ("quota-", Fault("quota", retry_after=DEFAULT_QUOTA_RETRY_AFTER)),
)


def prefix_fault(token: str) -> Fault | None:
    for prefix, fault in TOKEN_PREFIX_FAULTS:
        if token.startswith(prefix):
            return fault
    return None


@dataclass(frozen=True)
class Received:
    """One message accepted for one recipient (a registration token, an installation id, a topic)."""

    id: str
    name: str
    token: str
    project: str
    received_at: datetime
    message: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "token": self.token,
            "project": self.project,
            "received_at": self.received_at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "message": copy.deepcopy(self.message),
        }


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class EmulatorStore:
    """Thread-safe: the emulator's HTTP server answers requests on several threads at once."""

    def __init__(self, clock: Callable[[], datetime] = _utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._sequence = itertools.count(1)
        self._received: list[Received] = []
        self._attempts: dict[str, int] = {}
        # A token absent from here follows its prefix; present with None, it has been told to behave.
        self._faults: dict[str, _ActiveFault | None] = {}

    # -- failure injection -------------------------------------------------------------------

    def set_fault(
        self, token: str, kind: str | None, times: int | None = None, retry_after: int | None = None
    ) -> Fault | None:
        """Force `kind` on `token` (overriding its prefix); `kind=None` makes it succeed from now on."""
        fault = None if kind is None else Fault(kind, times=times, retry_after=retry_after)
        with self._lock:
            self._faults[token] = None if fault is None else _ActiveFault(fault, fault.times)
        return fault

    def fault(self, token: str) -> Fault | None:
        """The fault the next send to `token` will meet, without using it up."""
        with self._lock:
            active = self._active_fault(token)
            return None if active is None else active.current()

    def count_attempt(self, token: str) -> None:
        """A request for `token` that failed before delivery was considered (e.g. a malformed message)."""
        with self._lock:
            self._attempts[token] = self._attempts.get(token, 0) + 1

    def begin_attempt(self, token: str) -> Fault | None:
        """Count a send to `token` and use up one answer of its fault, returned if there is one."""
        with self._lock:
            self._attempts[token] = self._attempts.get(token, 0) + 1
            active = self._active_fault(token)
            if active is None:
                return None
            fault = active.current()
            if active.remaining is not None:
                active.remaining -= 1
                if active.remaining <= 0:
                    self._faults[token] = None
            return fault

    def _active_fault(self, token: str) -> _ActiveFault | None:
        if token not in self._faults:
            fault = prefix_fault(token)
            self._faults[token] = None if fault is None else _ActiveFault(fault, fault.times)
        return self._faults[token]

    # -- delivery ----------------------------------------------------------------------------

    def record(self, token: str, project: str, message: dict[str, Any]) -> Received:
        """Keep `message` as delivered to `token` now, under a new FCM-style message id."""
        with self._lock:
            at = self._clock()
            micros = int(at.timestamp() * 1_000_000)
            # FCM ids look like "0:1700000000000000%31bd1c9631bd1c96"; the sequence makes ours unique.
            message_id = f"0:{micros}%{next(self._sequence):08x}{secrets.token_hex(4)}"
            item = Received(
                id=message_id,
                name=f"projects/{project}/messages/{message_id}",
                token=token,
                project=project,
                received_at=at,
                message=copy.deepcopy(message),
            )
            self._received.append(item)
            return item

    def messages(self, token: str | None = None) -> list[Received]:
        """What was delivered, oldest first; to `token` only when given."""
        with self._lock:
            return [m for m in self._received if token is None or m.token == token]

    def attempts(self, token: str) -> int:
        """Every send request naming `token`, failed ones and dry runs included."""
        with self._lock:
            return self._attempts.get(token, 0)

    def tokens(self) -> list[dict[str, Any]]:
        """Every recipient seen, with its counts and the fault its next send would meet."""
        with self._lock:
            counts: dict[str, int] = {}
            for m in self._received:
                counts[m.token] = counts.get(m.token, 0) + 1
            names = list(dict.fromkeys([*self._attempts, *counts, *self._faults]))
            out = []
            for token in names:
                active = self._faults.get(token)
                out.append(
                    {
                        "token": token,
                        "messages": counts.get(token, 0),
                        "attempts": self._attempts.get(token, 0),
                        "fault": None if active is None else active.current().to_json(),
                    }
                )
            return out

    def clear(self) -> None:
        """Forget every message, count and fault; prefixes apply afresh."""
        with self._lock:
            self._received.clear()
            self._attempts.clear()
            self._faults.clear()


class _ActiveFault:
    def __init__(self, fault: Fault, remaining: int | None) -> None:
        self.fault = fault
        self.remaining = remaining

    def current(self) -> Fault:
        return Fault(self.fault.kind, times=self.remaining, retry_after=self.fault.retry_after)
