"""Every text a person reads is translated: no catalogue entry is empty or fuzzy, and every
entry of the template is in each language's catalogue."""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages import pofile

from dealsvc.domain.locales import LOCALES

CATALOGUES = Path(__file__).resolve().parent.parent / "dealsvc" / "translations"


def _read(path: Path):
    with path.open("rb") as f:
        return pofile.read_po(f)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_entry_is_translated_and_none_is_fuzzy(locale):
    template = _read(CATALOGUES / "messages.pot")
    catalogue = _read(CATALOGUES / locale / "LC_MESSAGES" / "messages.po")
    missing = [m.id for m in template if m.id and m.id not in catalogue]
    untranslated = [
        m.id for m in catalogue
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert not missing, f"{locale}: not in the catalogue (make i18n-update): {missing}"
    assert not untranslated, f"{locale}: untranslated: {untranslated}"
    assert not fuzzy, f"{locale}: fuzzy: {fuzzy}"
