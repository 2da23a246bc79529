"""Tests that start processes or drive Chromium: servers, workers, nginx, benchmarks (make test-e2e)."""
