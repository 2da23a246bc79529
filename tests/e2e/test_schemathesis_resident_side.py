"""schemathesis against the live service under gunicorn, from its own OpenAPI document, on each
database: the resident's side of the API (tests/support/schemathesis_live.py)."""
from __future__ import annotations

import pytest

from tests.support.schemathesis_live import check_operations, live_targets, operations_of_side


@pytest.fixture(scope="module")
def targets(database_urls, tmp_path_factory):
    with live_targets(database_urls, tmp_path_factory) as targets:
        yield targets


def test_live_api_conforms_to_its_document(targets, subtests):
    """Every operation of the resident's side of the served document, with valid and invalid
    input, on each database: never a 5xx, and every answer (status, content type, headers, body)
    is one the document describes."""
    check_operations(operations_of_side(targets, "resident"), targets, subtests)
