"""Bearer secrets: made once, shown once, stored only as a hash."""
from __future__ import annotations

import hashlib
import secrets

MERCHANT_PREFIX = "dsm_"
SUBSCRIBER_PREFIX = "dss_"


def new_secret(prefix: str) -> str:
    # 256 bits of randomness: a fast hash is enough (nothing to brute-force), and lets the
    # service find the holder by hash with one index lookup.
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
