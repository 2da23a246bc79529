"""The message catalogues are whole: every entry of it, fr and en translated and not fuzzy, every
text the code and the templates mark is in them, and no template shows a word outside them."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment, FileSystemLoader, nodes

from dealsvc.domain.locales import LOCALES

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "dealsvc" / "translations"
TEMPLATES = ROOT / "dealsvc" / "web" / "templates"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def catalogue(locale: str):
    with open(CATALOGUES / locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=locale)


def _key(message_id) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def problems(cat) -> tuple[list[str], list[str]]:
    """(untranslated, fuzzy) msgids of a catalogue."""
    untranslated, fuzzy = [], []
    for message in cat:
        if not message.id:
            continue
        strings = [message.string] if isinstance(message.string, str) else list(message.string or [])
        if not strings or not all(s and s.strip() for s in strings):
            untranslated.append(_key(message.id))
        if message.fuzzy:
            fuzzy.append(_key(message.id))
    return untranslated, fuzzy


@pytest.mark.parametrize("locale", LOCALES)
def test_every_entry_is_translated_and_none_is_fuzzy(locale):
    cat = catalogue(locale)
    untranslated, fuzzy = problems(cat)
    print(f"{locale}: {len(cat)} entries, {len(untranslated)} untranslated, {len(fuzzy)} fuzzy")
    assert len(cat) > 100, "the pages' texts are in the catalogue"
    assert not untranslated, f"{locale}: untranslated {untranslated[:10]}"
    assert not fuzzy, f"{locale}: fuzzy {fuzzy[:10]}"


def test_the_check_finds_untranslated_and_fuzzy_entries():
    from babel.messages.catalog import Catalog

    cat = Catalog(locale="it")
    cat.add("Shop", "Negozio")
    cat.add("Sign out", "")
    cat.add(("%(num)d offer", "%(num)d offers"), ("%(num)d offerta", ""))
    cat.add("Back", "Indietro", flags=["fuzzy"])
    assert problems(cat) == (["Sign out", "%(num)d offer"], ["Back"])


def test_english_says_what_the_source_says():
    cat = catalogue("en")
    differing = [_key(m.id) for m in cat if m.id and (m.string if isinstance(m.id, str) else tuple(m.string)) != m.id]
    assert not differing, differing[:10]


def _marked_texts() -> set[str]:
    """What the code and the templates mark for translation now (as `make i18n-extract` reads it)."""
    method_map = [("dealsvc/**.py", "python"), ("workers/**.py", "python"), ("dealsvc/**/templates/**.html", "jinja2")]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=KEYWORDS, options_map={"dealsvc/**/templates/**.html": {"trimmed": "false"}},
    ):
        found.add(_key(message))
    return found


@pytest.mark.parametrize("locale", LOCALES)
def test_every_marked_text_is_in_the_catalogue(locale):
    known = {_key(m.id) for m in catalogue(locale) if m.id}
    missing = sorted(_marked_texts() - known)
    assert not missing, f"{locale}: run `make i18n-update` and translate {missing[:10]}"


# Visible text a template may write itself: nothing with a letter in it (the brand, names and
# figures come from variables; punctuation, symbols and numbers are the same in every language).
_TAG = re.compile(r"<[^>]*>", re.S)
_ENTITY = re.compile(r"&[#\w]+;")
_PERSON_ATTRIBUTE = re.compile(r'\b(?:title|placeholder|aria-label|alt|aria-valuetext)="([^"]*)"')
# Jinja's `{% trans %}` keeps its text in the catalogue; a few words are no language's own.
_NOT_WORDS = {"UTC", "EUR", "checked", "selected", "open", "novalidate", "required", "disabled", "defer"}


def _letters(text: str) -> list[str]:
    words = re.findall(r"[^\W\d_]{2,}", text)
    return [w for w in words if w not in _NOT_WORDS]


def _template_texts(source: str) -> list[str]:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), extensions=["jinja2.ext.i18n"])
    tree = env.parse(source)
    leaks = []
    for data in tree.find_all(nodes.TemplateData):
        html = data.data
        for value in _PERSON_ATTRIBUTE.findall(html):
            leaks += _letters(value)
        text = _ENTITY.sub(" ", _TAG.sub(" ", html))
        # A tag split across a template expression leaves half of it here: `data-url="` or `">`.
        text = re.sub(r"^[^<>]*?>|<[^<>]*$", " ", text)
        # ... or a macro's attributes: ` aria-invalid="true" aria-describedby="` and `-error"`.
        text = re.sub(r'^[^"<>=]*"', " ", re.sub(r'[\w-]+="[^"]*"?', " ", text))
        text = re.sub(r"^-[\w-]+", " ", text)  # an id's suffix after its variable part: {{ name }}-error
        leaks += _letters(text)
    # Words written as strings straight into the page: {{ "Wave" if ... }}.
    for output in tree.find_all(nodes.Output):
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                continue
            for const in child.find_all(nodes.Const) if not isinstance(child, nodes.Const) else [child]:
                if isinstance(const.value, str) and _is_shown(child, const):
                    leaks += _letters(const.value)
    return leaks


def _is_shown(expression: nodes.Node, const: nodes.Const) -> bool:
    """Whether a string constant in an output expression reaches the page as written: not when
    it is the argument of a call (a gettext msgid, a url_for endpoint, a format) or compared."""
    kinds = (nodes.Call, nodes.Filter, nodes.Compare, nodes.Getitem, nodes.Getattr, nodes.Test, nodes.Pair)
    for call in [expression, *expression.find_all(kinds)]:
        if not isinstance(call, kinds):
            continue
        if any(c is const for c in call.find_all(nodes.Const)):
            return False
    return True


TEMPLATE_FILES = sorted(TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_no_template_shows_a_word_outside_the_catalogues(path):
    leaks = _template_texts(path.read_text(encoding="utf-8"))
    assert not leaks, f"{path.name}: words outside {{% trans %}}/_(): {leaks[:15]}"


def test_the_check_finds_words_outside_the_catalogues():
    """The template check itself: it sees text, attributes and strings written as they are."""
    assert _template_texts("<p>Hello there</p>") == ["Hello", "there"]
    assert _template_texts('<input placeholder="e.g. bread">') == ["bread"]
    assert _template_texts('{{ "Wave" if x else "wave" }}') == ["Wave", "wave"]
    assert _template_texts('<p>{{ _("Hello") }} {% trans %}Bye{% endtrans %} {{ name }}: 4 %</p>') == []
    assert _template_texts("<a href=\"{{ url_for('shop_pages.home') }}\">{{ _('Shop') }}</a>") == []
