"""Tests without a database or processes: rules, catalogues, settings, decoders (make test-unit)."""
