"""Stock-sized waves: who among the residents in reach is told about an offer, and when.

The first wave tells the residents who follow the shop, then the nearest others, about
`wave_factor × quantity_left` in all; every `wave_interval_s` while stock remains the next
nearest are told. With waves off, everyone in reach is told at once."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from . import hours


def held_until(opening_hours: str | None, zone_name: str, now: datetime, expires_at: datetime) -> datetime | None:
    """While the shop is closed nobody is told (an alert about a shop one cannot go to is a
    false promise): the instant a wave held back falls due again, when the shop opens, or when
    the offer ends if it opens later (then the wave finds it over and tells nobody). None: the
    shop is open (or has no hours), go now."""
    if not hours.is_closed(opening_hours, zone_name, now):
        return None
    opens = hours.opens_at(opening_hours, zone_name, now)
    return expires_at if opens is None else min(opens, expires_at)


def held_by(opening_hours: str | None, zone_name: str, now: datetime, expires_at: datetime, due_at: datetime) -> bool:
    """Whether a wave not yet due at `now` (due at `due_at`) is one these hours hold back: put
    off by held_until to their next opening, or to the offer's end. When a shop's hours change,
    such a wave falls due at once, to be held by the new hours or told now."""
    if due_at <= now:
        return False
    held = held_until(opening_hours, zone_name, now, expires_at)
    return held is not None and due_at in (held, expires_at)


def wave_size(factor: int, quantity_left: int) -> int:
    """How many residents one wave tells (at least one while anything is left)."""
    return max(1, factor * quantity_left) if quantity_left > 0 else 0


def pick(
    nearest: Sequence[tuple[int, float]],
    followers: Sequence[tuple[int, float]],
    size: int | None,
) -> list[tuple[int, float]]:
    """The residents of one wave as (key, distance): every follower first (they asked to hear
    from this shop), then the nearest others up to `size` in all (None: all of them).

    `nearest` and `followers` hold only residents not told yet; `nearest` is sorted by distance.
    """
    chosen = sorted(followers, key=lambda item: item[1])
    taken = {key for key, _ in chosen}
    room = None if size is None else max(0, size - len(chosen))
    for key, distance in nearest:
        if room is not None and room <= 0:
            break
        if key in taken:
            continue
        chosen.append((key, distance))
        taken.add(key)
        if room is not None:
            room -= 1
    return chosen


@dataclass(frozen=True)
class PlannedWave:
    number: int
    after_s: int  # seconds after the offer is posted
    residents: int


def plan(
    reach: int,
    followers: int,
    *,
    enabled: bool,
    factor: int,
    interval_s: int,
    quantity: int,
    lifetime_s: int | None = None,
    max_waves: int = 50,
) -> list[PlannedWave]:
    """The waves an offer of `quantity` items would go out in if nothing sold meanwhile: the
    reach preview. `followers` are counted in the first wave on top of nobody else's share;
    waves after the offer's `lifetime_s` never happen."""
    total = reach + followers
    if total <= 0:
        return []
    if not enabled:
        return [PlannedWave(1, 0, total)]
    size = wave_size(factor, quantity)
    waves: list[PlannedWave] = []
    left = reach
    first = followers + min(left, max(0, size - followers))
    left -= first - followers
    waves.append(PlannedWave(1, 0, first))
    number = 1
    while left > 0 and len(waves) < max_waves:
        after = number * interval_s
        if lifetime_s is not None and after >= lifetime_s:
            break
        number += 1
        told = min(left, size)
        left -= told
        waves.append(PlannedWave(number, after, told))
    return waves
