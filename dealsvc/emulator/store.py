"""What the FCM emulator received, per token, and the faults it must answer with, kept in memory."""
from __future__ import annotations

import copy
import email.utils
import itertools
import math
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

# Error answers as FCM gives them (see blueprint.FAULT_RESPONSES), then five that are not FCM's
# errors: "no_name" delivers the message but answers 200 with a body that lacks FCM's "name",
# "html_502" is a proxy's HTML page with 502 (a load balancer in front of FCM failing), "reset"
# drops the connection without an answer (a TCP reset where the server lets the emulator reach
# its socket), "cut" delivers the message and answers 200 but closes the connection halfway
# through the body, "hang" keeps the request unanswered until the fault is cleared (at most
# HANG_MAX_S, then a 503). Both limits
# are short: in `make run` the emulator shares the service's few request threads, and a request
# held for minutes would hold one of them (push clients give up after 10 s anyway).
ERROR_FAULT_KINDS = (
    "unregistered", "invalid", "mismatch", "unavailable", "quota", "internal", "bad_request",
    "unauthenticated", "permission_denied", "quota_bare",
)
FAULT_KINDS = (*ERROR_FAULT_KINDS, "no_name", "html_502", "reset", "cut", "hang")
DEFAULT_QUOTA_RETRY_AFTER = 2
HANG_MAX_S = 15.0
MAX_DELAY_S = 15.0


def check_retry_after(value: Any) -> None:
    """Raise ValueError unless `value` is a Retry-After the emulator can send: a non-negative
    integer of seconds (absurd ones included, to test clients) or an HTTP-date."""
    if isinstance(value, str):
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            moment = None
        if moment is None:
            raise ValueError("retry_after must be a non-negative integer of seconds or an HTTP-date")
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("retry_after must be a non-negative integer of seconds or an HTTP-date")


def check_delay(value: Any) -> None:
    if (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        or not 0 <= value <= MAX_DELAY_S
    ):
        raise ValueError(f"delay_s must be a number of seconds from 0 to {MAX_DELAY_S:g}")


@dataclass(frozen=True)
class Fault:
    """An outcome forced on a token (or on every token): `times` answers (None: every answer),
    then normal delivery."""

    kind: str
    times: int | None = None
    # Sent as Retry-After: with quota always (default 2), with any other kind when given.
    # Seconds, or an HTTP-date string.
    retry_after: int | str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; one of {', '.join(FAULT_KINDS)}")
        if self.times is not None and (isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 1):
            raise ValueError("times must be a positive integer, or None for every time")
        if self.retry_after is not None:
            check_retry_after(self.retry_after)

    def to_json(self) -> dict[str, Any]:
        return {"fault": self.kind, "times": self.times, "retry_after": self.effective_retry_after}

    @property
    def effective_retry_after(self) -> int | str | None:
        if self.kind == "quota" and self.retry_after is None:
            return DEFAULT_QUOTA_RETRY_AFTER
        return self.retry_after


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
    # Increasing across every recipient, never reused (not even after clear()): what a web
    # client has already fetched is everything up to its last seq.
    seq: int

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
        # Which run of the emulator this is: seqs start again at 1 in the next one, so a web client
        # that kept "after" from a previous run starts over when this changes.
        self.instance = secrets.token_hex(8)
        self._received: list[Received] = []
        self._attempts: dict[str, int] = {}
        # A token absent from here follows its prefix; present with None, it has been told to behave.
        self._faults: dict[str, _ActiveFault | None] = {}
        # For every token, before its own fault: FCM failing (or slow) for everyone.
        self._global: _ActiveFault | None = None
        self._delay_s = 0.0
        self._release_hangs = threading.Event()

    # -- failure injection -------------------------------------------------------------------

    def set_fault(
        self, token: str, kind: str | None, times: int | None = None, retry_after: int | None = None
    ) -> Fault | None:
        """Force `kind` on `token` (overriding its prefix); `kind=None` makes it succeed from now on."""
        fault = None if kind is None else Fault(kind, times=times, retry_after=retry_after)
        with self._lock:
            self._faults[token] = None if fault is None else _ActiveFault(fault, fault.times)
            # Requests held by a "hang" (this token's or the global one) are let go on any change.
            released, self._release_hangs = self._release_hangs, threading.Event()
        released.set()
        return fault

    def set_global_fault(
        self,
        kind: str | None,
        times: int | None = None,
        retry_after: int | str | None = None,
        delay_s: float | None = None,
    ) -> dict[str, Any]:
        """Force `kind` on every token (before each token's own fault) and/or wait `delay_s`
        before every answer; `kind=None` and no delay restore normal service. Requests held
        by a "hang" are let go (answered 503) whenever this changes."""
        fault = None if kind is None else Fault(kind, times=times, retry_after=retry_after)
        if delay_s is not None:
            check_delay(delay_s)
        with self._lock:
            self._global = None if fault is None else _ActiveFault(fault, fault.times)
            self._delay_s = float(delay_s or 0.0)
            released, self._release_hangs = self._release_hangs, threading.Event()
        released.set()
        return self.global_fault()

    def global_fault(self) -> dict[str, Any]:
        """The fault every token meets now, and the delay before every answer."""
        with self._lock:
            state = {"fault": None, "times": None, "retry_after": None}
            if self._global is not None:
                state = self._global.current().to_json()
            return {**state, "delay_s": self._delay_s}

    def delay_s(self) -> float:
        """How long to wait before each answer."""
        with self._lock:
            return self._delay_s

    def hang(self) -> None:
        """Block the calling request until a fault changes (at most HANG_MAX_S)."""
        with self._lock:
            released = self._release_hangs
        released.wait(HANG_MAX_S)

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
            if self._global is not None:
                fault = self._global.current()
                if self._global.use():
                    self._global = None
                return fault
            active = self._active_fault(token)
            if active is None:
                return None
            fault = active.current()
            if active.use():
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
            seq = next(self._sequence)
            message_id = f"0:{micros}%{seq:08x}{secrets.token_hex(4)}"
            item = Received(
                id=message_id,
                name=f"projects/{project}/messages/{message_id}",
                token=token,
                project=project,
                received_at=at,
                message=copy.deepcopy(message),
                seq=seq,
            )
            self._received.append(item)
            return item

    def messages(self, token: str | None = None, after: int = 0) -> list[Received]:
        """What was delivered, oldest first; to `token` only when given; after seq `after`."""
        with self._lock:
            return [m for m in self._received if (token is None or m.token == token) and m.seq > after]

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
        """Forget every message, count and fault (the global one too); prefixes apply afresh."""
        with self._lock:
            self._received.clear()
            self._attempts.clear()
            self._faults.clear()
            self._global = None
            self._delay_s = 0.0
            released, self._release_hangs = self._release_hangs, threading.Event()
        released.set()


class _ActiveFault:
    def __init__(self, fault: Fault, remaining: int | None) -> None:
        self.fault = fault
        self.remaining = remaining

    def current(self) -> Fault:
        return Fault(self.fault.kind, times=self.remaining, retry_after=self.fault.retry_after)

    def use(self) -> bool:
        """One answer given; True when that was the last one."""
        if self.remaining is None:
            return False
        self.remaining -= 1
        return self.remaining <= 0
