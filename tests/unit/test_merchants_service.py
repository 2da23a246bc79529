"""MerchantService and AuthService on the in-memory store: sign-up as the rules say, one
account per email, moderation kept in the audit (a suspension withdraws the offers on show),
and the key that signs the merchant in."""
from datetime import timedelta

import pytest

from dealsvc.domain.audit import Action, Actor, ActorKind
from dealsvc.domain.credentials import MERCHANT_PREFIX
from dealsvc.domain.errors import Conflict, NotFound, Unauthorized
from dealsvc.domain.merchants import ACTIVE, PENDING, SUSPENDED
from dealsvc.services.audit import AuditService
from dealsvc.services.auth import MERCHANT, PAGE_SESSION_LIFETIME, AuthService, Principal
from dealsvc.services.merchants import MerchantService
from dealsvc.services.rules import RulesService
from tests.support.api import ADMIN_TOKEN
from tests.support.contracts import T0
from tests.support.fakes import Clock, MemoryStore

OPERATOR = Actor(ActorKind.CONSOLE, "a1b2c3d4e5f6")


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


def test_a_suspension_withdraws_the_offers_still_on_show_and_ends_their_holds(world):
    merchants, _, _, audit, store, _ = world
    baker, other = merchants.register("Forno Rossi", "forno@shop.example"), merchants.register("Latteria", "l@shop.example")
    store.add_shop("shp_1", merchant_id=baker["id"])
    store.add_shop("shp_2", merchant_id=other["id"])
    live = store.add_offer("off_live", "shp_1", T0)
    hold = store.add_hold("off_live", store.add_subscriber("sub_1"), T0, quantity=2)
    store.add_offer("off_sold", "shp_1", T0, status="sold_out", quantity_left=0)
    store.add_offer("off_over", "shp_1", T0 - timedelta(hours=3))  # past its time: the expiry's
    store.add_offer("off_theirs", "shp_2", T0)

    assert merchants.set_status(baker["id"], SUSPENDED, OPERATOR)["offers_withdrawn"] == 2
    assert [o.status for o in store.tables.offers.values()] == ["cancelled", "cancelled", "active", "active"]
    assert (store.tables.reservations[hold].status, live.quantity_left) == ("released", 5)
    assert [(f.offer_id, f.kind) for f in store.tables.fanouts if f.kind == "withdraw"] == [("off_live", "withdraw"), ("off_sold", "withdraw")]
    assert audit.latest()["items"][0]["detail"] == {"status_before": ACTIVE, "offers_withdrawn": 2}


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
