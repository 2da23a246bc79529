"""Use cases: each owns its transaction and speaks in domain terms, never HTTP."""
