"""A refusal that carries what was sent (marshmallow passes it to its message as `input`) is a
400 with its message, whatever number was sent, not a 500 from formatting the number."""
from __future__ import annotations

import pytest

from dealsvc.adapters.catalogues import localize
from dealsvc.domain.i18n import Text


@pytest.mark.parametrize("value", [1e300, -1.7976931348623157e308, 10**400])
def test_a_text_takes_any_number_as_a_value(value):
    said = Text("must be a time, not {input}.", input=value)
    assert said == f"must be a time, not {value}."
    assert localize(Text("must be a time.").format(input=value), "it") == localize(Text("must be a time."), "it")


def test_a_huge_number_for_a_time_is_a_400_naming_the_field(api):
    key = api.merchant()["api_key"]
    shop_id = api.shop(key)["id"]
    r = api.c.post("/api/v1/offers", json={**api.offer_body(shop_id), "expires_at": 1e300}, headers=api.h(key))
    assert r.status_code == 400, r.json
    assert list(r.json["errors"]) == ["expires_at"]
