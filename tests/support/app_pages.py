"""The residents' app pages as HTML: which pages, their configuration and their scripts."""
from __future__ import annotations

import json
import re



PAGES = ["/app/", "/app/join", "/app/offers/any-offer", "/app/reservations", "/app/settings"]


def config_of(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="app-config">(.*?)</script>', html, re.S)
    assert match, "the page carries no app config"
    return json.loads(match.group(1))


def scripts_of(html: str) -> list[str]:
    return re.findall(r'<script src="([^"]+)"', html)
