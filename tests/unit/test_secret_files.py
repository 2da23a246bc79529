"""Secrets generated in var/: made once, private, and the same for processes starting together."""
from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor

from dealsvc.adapters.secret_files import kept_secret


def test_made_once_kept_private_and_reused(tmp_path):
    path = tmp_path / "var" / "admin-token"
    first, made = kept_secret(path, lambda: "one")
    assert (first, made) == ("one", True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kept_secret(path, lambda: "two") == ("one", False)


def test_racing_starters_agree_on_one_value(tmp_path):
    path = tmp_path / "web-secret-key"
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: kept_secret(path, lambda: f"value-{i}"), range(64)))
    values = {value for value, _ in results}
    assert len(values) == 1 and values != {""}
    assert sum(made for _, made in results) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["web-secret-key"]  # no drafts left
