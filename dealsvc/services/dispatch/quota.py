"""The residents' daily caps: pushes counted per resident per local day, a batch at a time."""
from __future__ import annotations

from .ports import Outbox


def reserve(q: Outbox, wants: dict[tuple[int, str], tuple[int, int]]) -> dict[tuple[int, str], int]:
    """Counts the pushes of a batch against their residents' caps: `wants` maps (resident,
    day) to (pushes wanted, the resident's cap); returns how many of them each may have. One
    statement counts them all up, in key order (two claimers never lock quota rows in a cycle);
    what was wanted beyond a cap is given back by one more, only when someone is at their cap."""
    keys = sorted(wants)
    counts = q.count_up({key: wants[key][0] for key in keys})
    admitted: dict[tuple[int, str], int] = {}
    excess: dict[tuple[int, str], int] = {}
    for key in keys:
        want, cap = wants[key]
        before = counts[key] - want
        admitted[key] = max(0, min(want, cap - before))
        if admitted[key] < want:
            excess[key] = want - admitted[key]
    q.count_down(excess)
    return admitted
