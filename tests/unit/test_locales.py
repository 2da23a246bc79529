"""Which of the three languages a request's Accept-Language picks."""
from __future__ import annotations

import pytest

from dealsvc.domain.locales import best_match


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("it-IT,it;q=0.9,en-US;q=0.8", "it"),
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr"),
        ("de-DE,de;q=0.9,it;q=0.5", "it"),  # the first language we speak, by quality
        ("en;q=0.1, fr", "fr"),
        ("pt-BR", "en"),  # none of ours: the default
        ("fr-IT", "fr"),  # French as spoken in Italy, a pair CLDR has no data for
        ("it-DE,de;q=0.5", "it"),
        ("it-IT-u-ca-gregory", "it"),
        ("", "en"),
        (None, "en"),
        (";;,q=,*", "en"),  # malformed: says nothing
        ("it;q=0", "en"),  # "not Italian"
    ],
)
def test_accept_language_picks_one_of_our_languages(header, expected):
    assert best_match(header) == expected


def test_the_default_is_the_instances_when_nothing_matches():
    assert best_match("ja", default="it") == "it"
