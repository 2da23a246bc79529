"""Tests on SQLite and PostgreSQL through the app, the services and the stores (make test-integration)."""
