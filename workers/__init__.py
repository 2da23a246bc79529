"""Separate worker processes (scheduler, dispatcher): built from the same composition root, without Flask."""
