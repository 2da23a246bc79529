"""How deeply a parsed JSON value nests: checked before anything walks a client's body recursively."""
from __future__ import annotations

from typing import Any


def nests_deeper_than(value: Any, limit: int) -> bool:
    """True when objects and arrays in `value` nest more than `limit` levels (iteratively, so
    the check itself cannot run out of stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False
