"""Adapters to the outside world: database, geocoding, push; each behind a small interface."""
