"""The privacy notice residents accept before joining: its versions, the current one last.

The notice's words live in the message catalogues (the web app's join page); a change of those
words that changes what residents agree to is a new version here, and every app sends the
version it showed."""
from __future__ import annotations

NOTICE_VERSIONS = ("2026-12",)
CURRENT_NOTICE = NOTICE_VERSIONS[-1]
