"""What the console shows of the operators' audit: who acted (a token or a console session) and
what they did, in the page's language; and who the operator of this console session is."""
from __future__ import annotations

from typing import Any

from flask import session
from flask_babel import get_locale

from ..adapters.catalogues import localize
from ..domain.audit import ACTION_WORDS, ACTOR_WORDS, Actor, ActorKind, fingerprint


def console_operator() -> Actor:
    """The operator of this console session, named by its session (the fingerprint is the start
    of the hash the session is kept under: web_sessions.id_hash)."""
    return Actor(ActorKind.CONSOLE, fingerprint(session.get("operator") or ""))


def action_word(action: str) -> str:
    return localize(ACTION_WORDS.get(action, action), str(get_locale()))


def actor_word(kind: str) -> str:
    return localize(ACTOR_WORDS.get(kind, kind), str(get_locale()))


def audit_words() -> dict[str, Any]:
    return {"action_word": action_word, "actor_word": actor_word}
