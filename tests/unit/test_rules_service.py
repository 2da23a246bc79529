"""RulesService and the operator's audit on the in-memory store: a change of rules keeps its
history under the operator's entry, a refused or empty change keeps nothing."""
from datetime import timedelta

import pytest

from dealsvc.domain.audit import Action, Actor, ActorKind
from dealsvc.domain.errors import RuleViolation
from dealsvc.domain.rules import Rules
from dealsvc.services.audit import AuditService
from dealsvc.services.rules import RulesService
from tests.support.contracts import T0
from tests.support.fakes import Clock, MemoryStore

OPERATOR = Actor(ActorKind.API, "5c1f0e9a7b3d")


@pytest.fixture
def world():
    store, clock = MemoryStore(), Clock()
    return RulesService(store, clock), AuditService(store, clock), store, clock


def test_a_change_applies_at_once_and_its_history_is_kept_under_the_operators_entry(world):
    rules, audit, _, clock = world
    assert rules.current() == Rules()
    rules.update({"min_discount_pct": 30, "max_radius_m": 3000}, OPERATOR)
    clock.now += timedelta(minutes=5)
    rules.update({"min_discount_pct": 35}, OPERATOR)

    assert (rules.current().min_discount_pct, rules.current().max_radius_m) == (35, 3000)
    assert [(h["name"], h["old_value"], h["new_value"]) for h in rules.history()] == [
        ("min_discount_pct", 30, 35), ("max_radius_m", 5000, 3000), ("min_discount_pct", 40, 30)]
    page = audit.latest()
    assert [(e["action"], e["at"], e["actor"]) for e in page["items"]] == [
        (Action.RULES_CHANGED, T0 + timedelta(minutes=5), OPERATOR.ref), (Action.RULES_CHANGED, T0, OPERATOR.ref)]
    assert page["items"][1]["rule_changes"] == [
        {"name": "min_discount_pct", "old_value": 40, "new_value": 30},
        {"name": "max_radius_m", "old_value": 5000, "new_value": 3000},
    ]
    assert page["next_before"] is None


def test_a_contradicting_or_empty_change_keeps_nothing(world):
    rules, audit, store, _ = world
    with pytest.raises(RuleViolation) as refused:
        rules.update({"default_radius_m": 8000}, OPERATOR)  # beyond max_radius_m
    assert list(refused.value.errors) == ["default_radius_m"]
    rules.update({"min_discount_pct": 40}, OPERATOR)  # the value in force already
    assert rules.current() == Rules()
    assert rules.history() == [] and audit.latest()["items"] == []
    assert store.tables.operator_rules.stored == {}


def test_the_audit_reads_in_pages_and_names_the_merchant_acted_on(world):
    _, audit, store, clock = world
    with store.write() as q:
        q.add_merchant("mer_1", "Forno Rossi", "forno@shop.example", "active", "hash-1", T0)
    for action in (Action.SIGNED_IN, Action.SIGNED_OUT, Action.SIGNED_IN):
        audit.note(OPERATOR, action)
        clock.now += timedelta(minutes=1)
    with store.write() as q:
        q.add_audit_entry(clock(), OPERATOR.kind, OPERATOR.ref, Action.MERCHANT_SUSPENDED, "mer_1", {"offers_withdrawn": 0})

    first = audit.latest(limit=2)
    assert [(e["action"], e["target_name"]) for e in first["items"]] == [
        (Action.MERCHANT_SUSPENDED, "Forno Rossi"), (Action.SIGNED_IN, None)]
    rest = audit.latest(before=first["next_before"], limit=2)
    assert [e["action"] for e in rest["items"]] == [Action.SIGNED_OUT, Action.SIGNED_IN]
    assert rest["next_before"] is None
