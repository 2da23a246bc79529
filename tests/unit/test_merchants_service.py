"""MerchantService and AuthService on the in-memory store: sign-up as the rules say, one
account per email, moderation kept in the audit, and the key that signs the merchant in."""
import pytest

from dealsvc.domain.audit import Action, Actor, ActorKind
from dealsvc.domain.credentials import MERCHANT_PREFIX
from dealsvc.domain.errors import Conflict, NotFound, Unauthorized
from dealsvc.domain.merchants import ACTIVE, PENDING
from dealsvc.services.audit import AuditService
from dealsvc.services.auth import MERCHANT, PAGE_SESSION_LIFETIME, AuthService, Principal
from dealsvc.services.merchants import MerchantService
from dealsvc.services.rules import RulesService
from tests.support.contracts import T0
from tests.support.fakes import Clock, MemoryStore

OPERATOR = Actor(ActorKind.CONSOLE, "a1b2c3d4e5f6")
ADMIN_TOKEN = "test-operator-token-5c1f0e9a7b3d2c4e6f8a"


@pytest.fixture
def world():
    store, clock = MemoryStore(), Clock()
    rules = RulesService(store, clock)
    return MerchantService(store, clock, rules), rules, AuthService(store, ADMIN_TOKEN, clock), AuditService(store, clock), store, clock


def test_a_sign_up_is_active_or_waits_for_approval_as_the_rules_say(world):
    merchants, rules, auth, audit, _, _ = world
    open_shop = merchants.register("Forno Rossi", " Forno@Shop.example ")
    assert (open_shop["status"], open_shop["email"]) == (ACTIVE, "forno@shop.example")
    assert auth.authenticate(open_shop["api_key"]) == Principal(MERCHANT, open_shop["id"], ACTIVE)

    rules.update({"merchant_approval_required": True})
    waiting = merchants.register("Latteria Bianchi", "latte@shop.example")
    assert waiting["status"] == PENDING
    assert [m["id"] for m in merchants.list(PENDING)] == [waiting["id"]]

    approved = merchants.set_status(waiting["id"], ACTIVE, OPERATOR)
    assert (approved["status"], approved["offers_withdrawn"]) == (ACTIVE, 0)
    assert auth.authenticate(waiting["api_key"]).status == ACTIVE
    entry = audit.latest()["items"][0]
    assert (entry["action"], entry["target"], entry["target_name"], entry["detail"]) == (
        Action.MERCHANT_APPROVED, waiting["id"], "Latteria Bianchi", {"status_before": PENDING, "offers_withdrawn": 0})


def test_one_account_per_email_and_the_refused_one_keeps_nothing(world):
    merchants, _, auth, _, store, _ = world
    merchants.register("Forno Rossi", "forno@shop.example")
    with pytest.raises(Conflict) as refused:
        merchants.register("Forno Rosso", "FORNO@shop.example")
    assert list(refused.value.errors) == ["email"]
    assert [m["name"] for m in merchants.list()] == ["Forno Rossi"] and len(store.tables.merchants) == 1
    with pytest.raises(Unauthorized):
        auth.authenticate(MERCHANT_PREFIX + "not-a-key")


def test_an_erased_merchant_stays_suspended_and_unknown_ones_are_not_found(world):
    merchants, _, _, audit, store, _ = world
    made = merchants.register("Forno Rossi", "forno@shop.example")
    store.tables.merchants[made["id"]].erased_at = T0
    with pytest.raises(Conflict):
        merchants.set_status(made["id"], ACTIVE, OPERATOR)
    assert merchants.get(made["id"])["status"] == ACTIVE and audit.latest()["items"] == []
    with pytest.raises(NotFound):
        merchants.get("mer_nobody")
    with pytest.raises(NotFound):
        merchants.set_status("mer_nobody", ACTIVE, OPERATOR)


def test_a_page_session_ends_when_closed_or_when_it_expires(world):
    _, _, auth, _, store, clock = world
    session_id = auth.open_session(MERCHANT, "mer_1")
    assert auth.session_subject(session_id, MERCHANT) == "mer_1"
    assert auth.session_subject(session_id, "operator") is None
    auth.close_session(session_id)
    assert auth.session_subject(session_id, MERCHANT) is None and store.tables.web_sessions == {}

    lapsing = auth.open_session(MERCHANT, "mer_1")
    clock.now += PAGE_SESSION_LIFETIME
    assert auth.session_subject(lapsing, MERCHANT) is None
    auth.open_session(MERCHANT, "mer_2")  # a sign-in clears the expired ones
    assert [w.subject for w in store.tables.web_sessions.values()] == ["mer_2"]
