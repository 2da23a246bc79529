"""API problems in the caller's language: `title`, `detail` and the messages of
`errors` follow Accept-Language; the `errors` keys, `type` and `status` do not."""
from __future__ import annotations

import ast
import json
import inspect
from pathlib import Path

import marshmallow
import pytest
from marshmallow import fields

from dealsvc.adapters.catalogues import localize
from dealsvc.adapters.library_texts import LIBRARY_TEXTS
from dealsvc.api import schemas
from dealsvc.domain import errors as domain_errors
from dealsvc.domain.i18n import Text
from tests.support.api import ADMIN_TOKEN

ROOT = Path(__file__).resolve().parents[2]
# A body with a mistake of most kinds a client makes: missing, wrong type, out of range, unknown.
BAD_SUBSCRIBER = {"fcm_token": "tok", "lat": 123, "radius_m": "far", "quiet_hours": {"start": "25:00", "end": "07:00"}, "nickname": "x"}


def _post_subscriber(api, language: str, body: dict):
    return api.c.post("/api/v1/subscribers", json=body, headers={"Accept-Language": language})


def test_a_schema_error_is_said_in_italian_french_and_english_with_the_same_keys(api):
    answers = {lang: _post_subscriber(api, lang, BAD_SUBSCRIBER) for lang in ("it-IT,it;q=0.9", "fr-FR", "en-GB")}
    it, fr, en = answers.values()
    assert {r.status_code for r in answers.values()} == {400}
    assert set(it.json["errors"]) == set(fr.json["errors"]) == set(en.json["errors"]) == {
        "lat", "lon", "radius_m", "quiet_hours.start", "nickname",
    }
    assert (it.headers["Content-Language"], fr.headers["Content-Language"], en.headers["Content-Language"]) == ("it", "fr", "en")
    assert "Accept-Language" in it.headers["Vary"]

    assert it.json["title"] == "Richiesta non valida"
    assert it.json["detail"] == "La richiesta non è valida: lat, lon, nickname, quiet_hours.start, radius_m."
    assert it.json["errors"]["lon"] == ["Dato obbligatorio mancante."]
    assert it.json["errors"]["lat"] == ["Deve essere maggiore o uguale a -90 e minore o uguale a 90."]
    assert it.json["errors"]["radius_m"] == ["Non è un numero intero valido."]
    assert it.json["errors"]["quiet_hours.start"] == ["deve essere HH:MM (00:00–23:59)."]
    assert it.json["errors"]["nickname"] == ["Campo sconosciuto."]

    assert fr.json["title"] == "Requête non valide"
    assert fr.json["errors"]["lon"] == ["Donnée obligatoire manquante."]
    assert fr.json["errors"]["nickname"] == ["Champ inconnu."]

    assert en.json["title"] == "Invalid request"
    assert en.json["errors"]["lon"] == ["Missing data for required field."]
    assert en.json["errors"]["lat"] == ["Must be greater than or equal to -90 and less than or equal to 90."]
    assert {r.json["type"] for r in answers.values()} == {en.json["type"]}


def test_without_accept_language_the_instance_default_is_used(api):
    r = api.c.post("/api/v1/subscribers", json={})
    assert r.status_code == 400
    assert r.headers["Content-Language"] == "en" and r.json["title"] == "Invalid request"


def test_a_rule_violation_is_said_in_french_with_the_operator_s_figure(api):
    body = {"fcm_token": "tok-rule", "lat": 45.46, "lon": 9.19, "radius_m": 9000}
    r = _post_subscriber(api, "fr", body)
    assert r.status_code == 422
    assert r.json["title"] == "Règle de l'opérateur enfreinte"
    assert r.json["detail"] == "Le rayon peut être au plus de 5000 m."
    assert r.json["errors"] == {"radius_m": ["doit être au plus 5000 m (règle de l'opérateur max_radius_m)."]}


def test_numbers_in_a_refusal_are_written_the_reader_s_way(api):
    merchant = api.merchant()
    shop = api.shop(merchant["api_key"])
    # 400 -> 268 cents is a discount of 33 %, outside 40–60 %: the figure has decimals.
    body = api.offer_body(shop["id"], discount_pct=None, price_cents=268)
    del body["discount_pct"]
    headers = {**api.h(merchant["api_key"]), "Accept-Language": "it"}
    r = api.c.post("/api/v1/offers", json=body, headers=headers)
    assert r.status_code == 422
    assert r.json["detail"] == "Lo sconto deve essere compreso tra 40% e 60%."
    assert r.json["errors"]["price_cents"] == [
        "lo sconto risultante (33%) è fuori da 40%–60% (regole del gestore min_discount_pct, max_discount_pct)."
    ]
    api.rules(min_discount_pct=32.5)
    r = api.c.post("/api/v1/offers", json={**body, "price_cents": 280}, headers=headers)
    assert r.status_code == 422 and r.json["detail"] == "Lo sconto deve essere compreso tra 32,5% e 60%."
    fr = api.c.post("/api/v1/offers", json={**body, "price_cents": 280}, headers={**headers, "Accept-Language": "fr"})
    assert fr.json["detail"] == "La remise doit être comprise entre 32,5\u00a0% et 60\u00a0%."
    en = api.c.post("/api/v1/offers", json={**body, "price_cents": 280}, headers=api.h(merchant["api_key"]))
    assert en.json["detail"] == "The discount must lie within 32.5%–60%."


def test_not_found_conflict_and_credentials_in_italian(api):
    unknown = api.c.get("/api/v1/nowhere", headers={"Accept-Language": "it"})
    assert unknown.status_code == 404
    assert (unknown.json["title"], unknown.json["detail"]) == ("Non trovato", "A questo indirizzo non c’è nulla.")

    nobody = api.c.get("/api/v1/admin/rules", headers={"Accept-Language": "it"})
    assert nobody.status_code == 401 and nobody.json["detail"] == "Invia 'Authorization: Bearer <secret>'."

    merchant = api.merchant()
    offer = api.offer(merchant["api_key"], api.shop(merchant["api_key"])["id"])
    withdrawn = api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": "cancelled"}, headers=api.h(merchant["api_key"]))
    assert withdrawn.status_code == 200
    sub = api.subscriber()
    late = api.c.post(
        f"/api/v1/offers/{offer['id']}/reservations", json={"quantity": 1},
        headers={**api.h(sub["secret"]), "Accept-Language": "fr"},
    )
    assert late.status_code == 409
    assert (late.json["title"], late.json["detail"]) == ("Conflit", "L'offre est retirée.")


def test_the_operator_console_api_speaks_the_operator_s_language_too(api):
    r = api.c.put(
        "/api/v1/admin/rules", json={"min_discount_pct": 70},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Accept-Language": "it"},
    )
    assert r.status_code == 422
    assert r.json["detail"] == "Le regole si contraddirebbero."
    assert r.json["errors"] == {"min_discount_pct": ["non deve superare max_discount_pct (60)."]}


# --- every message a client can be sent is in the catalogues ------------------------------


def _schema_messages() -> set[str]:
    """Every message the API's schemas can put in `errors`: their fields' and validators'."""
    found: set[str] = set()
    seen: set[type] = set()

    def field_messages(field: fields.Field) -> None:
        # "format" is raised when the service writes a value out, never at a client.
        found.update(m for key, m in field.error_messages.items() if key != "format")
        for validator in field.validators:
            for name in ("error", "message_min", "message_max", "message_all", "message_equal"):
                if isinstance(message := getattr(validator, name, None), str):
                    found.add(message)
        if isinstance(field, fields.Nested):
            schema_messages(field.schema)
        if isinstance(field, fields.List):
            field_messages(field.inner)
        if isinstance(field, fields.Dict):
            for sub in (field.key_field, field.value_field):
                if sub is not None:
                    field_messages(sub)

    def schema_messages(schema: marshmallow.Schema) -> None:
        if type(schema) in seen:
            return
        seen.add(type(schema))
        found.update(schema.error_messages.values())
        for field in schema.fields.values():
            field_messages(field)

    for _, cls in inspect.getmembers(schemas, inspect.isclass):
        if issubclass(cls, marshmallow.Schema) and cls.__module__ == schemas.__name__:
            schema_messages(cls())
    return found


def test_every_schema_message_is_a_text_of_ours_or_a_known_library_sentence():
    library = {t.template for t in LIBRARY_TEXTS}
    messages = _schema_messages()
    assert len(messages) > 20  # the walk found the schemas' fields
    unknown = sorted(m for m in messages if not isinstance(m, Text) and m not in library)
    assert unknown == [], "add these to adapters/library_texts.py (and translate them)"
    for message in messages:
        for locale in ("it", "fr"):
            assert localize(message, locale) != str(message), (locale, message)


def test_library_sentences_filled_in_are_recognised_and_said_with_their_values():
    assert localize("Longer than maximum length 200.", "it") == "Supera la lunghezza massima (200)."
    assert localize("Must be greater than or equal to 0.5 and less than 100.", "fr") == (
        "Doit être supérieur ou égal à 0,5 et inférieur à 100."
    )
    assert localize("Must be one of: it, fr, en.", "it") == "Deve essere uno tra: it, fr, en."
    assert localize("A sentence nobody wrote down.", "it") == "A sentence nobody wrote down."


_REFUSALS = {name for name, cls in inspect.getmembers(domain_errors, inspect.isclass) if issubclass(cls, Exception)}
_REFUSALS |= {"ValidationError", "problem"}


@pytest.mark.parametrize("package", ["dealsvc/domain", "dealsvc/services", "dealsvc/api", "dealsvc/adapters"])
def test_no_refusal_is_written_as_a_bare_string(package):
    """A refusal a client reads is a Text (so it reaches the catalogues and the reader's
    language), never a literal or an f-string that would stay English."""
    bare = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in _REFUSALS:
                continue
            strings = [a for a in node.args if isinstance(a, ast.JoinedStr) or (isinstance(a, ast.Constant) and isinstance(a.value, str))]
            for arg in node.args:
                if isinstance(arg, ast.Dict):  # {"field": ["message"]}
                    for value in arg.values:
                        if isinstance(value, ast.List):
                            strings += [e for e in value.elts if isinstance(e, (ast.JoinedStr, ast.Constant))]
            # ValidationError("message", "field"): the second string is a field name.
            if name == "ValidationError" and len(node.args) > 1:
                strings = [s for s in strings if s is not node.args[1]]
            bare += [f"{path.relative_to(ROOT)}:{s.lineno}" for s in strings]
    assert bare == []


# --- the pages say the rules' refusals in the page's language too -------------------------


def test_a_rule_refusal_on_the_shop_page_is_said_in_italian(client, api):
    from tests.support.pages import csrf, offer_form

    it = {"Accept-Language": "it"}
    m = api.merchant()
    shop = api.shop(m["api_key"])
    token = csrf(client.get("/shop/", headers=it).text)
    assert client.post("/shop/signin", data={"secret": m["api_key"], "csrf_token": token}, headers=it).status_code == 303
    shopkeeper = {"shop": shop, "csrf": csrf(client.get("/shop/", headers=it).text)}
    r = client.post("/shop/offers", data=offer_form(shopkeeper, discount_pct="20"), headers=it)
    assert r.status_code == 422
    assert "deve essere compreso tra 40% e 60% (regole del gestore min_discount_pct, max_discount_pct)." in r.text
    assert "must lie within" not in r.text


def test_a_count_in_a_refusal_takes_the_right_plural_in_each_language(api):
    api.rules(max_active_holds=1)
    merchant = api.merchant()
    shop = api.shop(merchant["api_key"])
    first, second = (api.offer(merchant["api_key"], shop["id"]) for _ in range(2))
    sub = api.subscriber()
    hold = api.c.post(f"/api/v1/offers/{first['id']}/reservations", json={"quantity": 1}, headers=api.h(sub["secret"]))
    assert hold.status_code == 201
    said = {}
    for language in ("it", "fr", "en"):
        r = api.c.post(
            f"/api/v1/offers/{second['id']}/reservations", json={"quantity": 1},
            headers={**api.h(sub["secret"]), "Accept-Language": language},
        )
        assert r.status_code == 422
        said[language] = (r.json["detail"], r.json["errors"]["holds"][0])
    assert said["it"] == (
        "Hai già 1 prenotazione attiva, il massimo consentito; ritirala o annullala prima.",
        "al massimo 1 prenotazione attiva alla volta (regola del gestore max_active_holds).",
    )
    assert said["fr"][0] == "Vous avez déjà 1 réservation en cours, le maximum permis ; retirez-la ou annulez-la d’abord."
    assert said["en"][0] == "You already hold 1 reservation, the most allowed at once; collect or release it first."
    api.rules(max_active_holds=2)
    third = api.offer(merchant["api_key"], shop["id"])
    assert api.c.post(f"/api/v1/offers/{second['id']}/reservations", json={"quantity": 1}, headers=api.h(sub["secret"])).status_code == 201
    r = api.c.post(f"/api/v1/offers/{third['id']}/reservations", json={"quantity": 1},
                   headers={**api.h(sub["secret"]), "Accept-Language": "it"})
    assert r.json["detail"].startswith("Hai già 2 prenotazioni attive")


@pytest.mark.parametrize("huge", [1e25, 10**30, 1e308, 10**4000])
def test_a_huge_number_where_a_time_belongs_is_a_400_in_any_language(api, huge):
    merchant = api.merchant()
    shop = api.shop(merchant["api_key"])
    body = api.offer_body(shop["id"], expires_at=huge)
    raw = json.dumps(body) if huge != 10**4000 else json.dumps({**body, "expires_at": 0}).replace('"expires_at": 0', '"expires_at": ' + "9" * 4000)
    for language in ("it", "en"):
        r = api.c.post("/api/v1/offers", data=raw, content_type="application/json",
                       headers={**api.h(merchant["api_key"]), "Accept-Language": language})
        assert r.status_code == 400, r.text
        assert list(r.json["errors"]) == ["expires_at"]


def test_any_other_refusal_still_has_a_title_in_the_reader_s_language(api):
    r = api.c.get("/api/docs/assets/LICENSE", headers={"Range": "bytes=99999999-", "Accept-Language": "it"})
    assert r.status_code == 416
    assert r.json["title"] == "Richiesta rifiutata"


def test_a_status_is_said_as_the_language_says_it_of_what_it_describes():
    from dealsvc.domain import merchants, offers, reservations

    # Italian and French agree the adjective with the noun: an offer is "attiva", an account "attivo".
    assert localize(offers.STATUS_WORDS["active"], "it") == "attiva"
    assert localize(merchants.STATUS_WORDS["active"], "it") == "attivo"
    assert localize(merchants.STATUS_WORDS["active"], "fr") == "actif"
    assert localize(reservations.STATUS_WORDS["collected"], "fr") == "retirée"
    for module in (offers, merchants, reservations):  # every status has its words
        assert set(module.STATUS_WORDS) == set(module.STATUSES)
