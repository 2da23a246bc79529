"""Each operator rule is declared once (domain/rules.py): the API, its OpenAPI document, the
console's form and page all show the same rules with the same bounds, in every language, and a
new rule is one declaration."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from marshmallow import ValidationError

from dealsvc.api.schemas import rules_schemas
from dealsvc.domain.i18n import Text
from dealsvc.domain.rules import COUNT, RULES, Rules, describe, rule
from dealsvc.web.forms import RulesForm, parse, rules_form
from tests.support.api import ADMIN_TOKEN
from tests.support.pages import csrf, sign_in_operator

OP = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NAMES = [r.name for r in RULES]
CATALOGUES = Path(__file__).resolve().parents[2] / "dealsvc" / "translations"
OPENAPI_TYPES = {bool: "boolean", int: "integer", float: "number"}


def typed(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_the_api_and_its_document_show_the_declared_rules_and_bounds(client):
    assert NAMES == [f.name for f in fields(Rules)] and len(set(NAMES)) == len(NAMES)
    assert client.get("/api/v1/admin/rules", headers=OP).json == {r.name: r.default for r in RULES}
    assert asdict(Rules()) == {r.name: r.default for r in RULES}

    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    assert list(schemas["Rules"]["properties"]) == NAMES and sorted(schemas["Rules"]["required"]) == sorted(NAMES)
    update = schemas["RulesUpdate"]["properties"]
    assert list(update) == NAMES
    for r in RULES:
        assert update[r.name]["type"] == schemas["Rules"]["properties"][r.name]["type"] == OPENAPI_TYPES[r.kind]
        if not r.is_switch:
            assert (update[r.name]["minimum"], update[r.name]["maximum"]) == (r.low, r.high)
            assert update[r.name].get("exclusiveMaximum", False) is (not r.high_inclusive)


@pytest.mark.parametrize("rule", [r for r in RULES if not r.is_switch], ids=lambda r: r.name)
def test_the_api_takes_a_rule_on_its_bounds_and_refuses_it_beyond(client, rule):
    step = 1 if rule.whole else 0.5
    top = rule.high if rule.high_inclusive else rule.high - step
    for value, status in ((rule.low, 200), (top, 200), (rule.low - step, 400), (top + step, 400)):
        r = client.put("/api/v1/admin/rules", json={rule.name: value}, headers=OP)
        assert r.status_code in (status, 422 if status == 200 else status), (rule.name, value, r.json)
        if r.status_code == 400:
            assert list(r.json["errors"]) == [rule.name]


def test_the_console_form_and_page_show_the_declared_rules_with_their_bounds(app, client):
    assert list(RulesForm().fields) == NAMES
    defaults = {r.name: typed(r.default) for r in RULES}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert parse(RulesForm(), defaults) == ({r.name: r.default for r in RULES}, {})
        for r in RULES:
            if r.is_switch:
                continue
            step = 1 if r.whole else 0.5
            top = r.high if r.high_inclusive else r.high - step
            for fine in (r.low, top):
                assert parse(RulesForm(), {**defaults, r.name: str(fine)})[1] == {}, (r.name, fine)
            for wrong in (r.low - step, top + step):
                assert parse(RulesForm(), {**defaults, r.name: str(wrong)})[1] == {r.name: [str(r.out_of_bounds)]}

    console = sign_in_operator(client)
    form = re.search(r'<form method="post" action="/admin/rules".*?</form>', console, re.S).group(0)
    assert sorted(re.findall(r'<input id="(\w+)" name="\1"', form)) == sorted(NAMES)
    for r in RULES:
        unit = f" ({r.unit.symbol})" if r.unit and r.unit.symbol else ""
        assert f'<label for="{r.name}">{r.label}{unit}</label>' in form
        hint = re.search(rf'<p class="hint field-hint" id="{r.name}-hint">([^<]*)</p>', form).group(1)
        assert hint.replace("&#39;", "'") == (str(r.help) if r.is_switch else f"{r.help} {r.bounds}")


@pytest.mark.parametrize("locale", ["it", "fr", "en"])
def test_every_rule_has_its_label_and_help_in_every_language(client, locale):
    catalogue = read_po((CATALOGUES / locale / "LC_MESSAGES" / "messages.po").open("rb"))
    texts = [t for r in RULES for t in (r.label, r.help, r.unit.ask if r.unit else None,
                                        r.bounds if r.unit else None, r.out_of_bounds if r.unit else None,
                                        r.group.title if r.group else None, r.group.intro if r.group else None) if t]
    for text in texts:
        entry = catalogue.get(text.template)
        assert entry is not None and entry.string and not entry.fuzzy, (locale, text.template)
        if locale != "en" and not text.params:
            assert entry.string != text.template, (locale, text.template)

    # The console says them in that language.
    token = csrf(client.get("/admin/").text)
    client.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token})
    console = client.get("/admin/", headers={"Accept-Language": locale}).text
    for r in RULES:
        assert f'<label for="{r.name}">{catalogue.get(r.label.template).string}'.replace("'", "&#39;") in console


@dataclass(frozen=True)
class MoreRules(Rules):
    """The rules with one more, declared the one way a rule is."""

    max_photos_per_offer: int = rule(
        3, COUNT, low=0, high=10, label=Text("Photos per offer"), help=Text("How many photos one offer may show."),
        doc="Photos one offer may show; one more is a 422.",
    )


def test_a_new_rule_is_one_declaration(app):
    more = describe(MoreRules)
    assert [r.name for r in more] == NAMES + ["max_photos_per_offer"]
    assert MoreRules().max_photos_per_offer == 3

    shown, change = rules_schemas(more)
    assert shown().dump(MoreRules())["max_photos_per_offer"] == 3
    assert change().load({"max_photos_per_offer": 10}) == {"max_photos_per_offer": 10}
    with pytest.raises(ValidationError) as refused:
        change().load({"max_photos_per_offer": 11})
    assert list(refused.value.messages) == ["max_photos_per_offer"]

    form = rules_form(more)
    sent = {**{r.name: typed(r.default) for r in RULES}, "max_photos_per_offer": "11"}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert parse(form(), sent)[1] == {"max_photos_per_offer": ["Must be between 0 and 10."]}
        assert parse(form(), {**sent, "max_photos_per_offer": "4"})[0]["max_photos_per_offer"] == 4


# --- the docs -------------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
TABLE_START, TABLE_END = "<!-- rules: start -->", "<!-- rules: end -->"


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def rules_table(rules=RULES) -> str:
    """The table of docs/rules.md, from the declarations."""
    lines = ["| rule | default | allowed | console | what it does |", "|---|---|---|---|---|"]
    for r in rules:
        if r.is_switch:
            allowed = "`true` / `false`"
        else:
            top = f"< {_number(r.high)}" if not r.high_inclusive else f"≤ {_number(r.high)}"
            allowed = f"{_number(r.low)} ≤ … {top}" + (f" {r.unit.symbol}" if r.unit.symbol else "")
        default = typed(r.default) if r.is_switch else _number(r.default)
        unit = f" ({r.unit.symbol})" if r.unit and r.unit.symbol else ""
        lines.append(f"| `{r.name}` | {default} | {allowed} | {r.label}{unit} | {r.help} |")
    return "\n".join(lines)


def test_the_docs_list_every_rule_as_declared():
    text = DOC.read_text(encoding="utf-8")
    shown = text[text.index(TABLE_START) + len(TABLE_START):text.index(TABLE_END)].strip()
    assert shown == rules_table(), f"docs/rules.md: replace the table with\n{rules_table()}"
    # The example of the docs is a rule as declared here.
    assert "max_photos_per_offer: int = rule(" in text
