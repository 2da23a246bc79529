"""Idempotency-Key answers (services/idempotency.py) on the in-memory store: the same key and
body replay the first answer, datetimes included; another body is refused; a twin's key wins."""
import pytest

from dealsvc.domain.errors import Unprocessable
from dealsvc.services import idempotency
from dealsvc.services.ports import IntegrityConflict
from tests.support.contracts import T0
from tests.support.fakes import MemoryStore

SCOPE = "merchant:mer_1:create-offer"


def test_the_same_key_and_body_replay_the_first_answer_and_another_body_is_refused():
    store = MemoryStore()
    body = {"title": "Pane di ieri", "quantity": 5}
    with store.write() as q:
        assert idempotency.replay(q, SCOPE, "k1", body) is None
        idempotency.remember(q, SCOPE, "k1", body, 201, {"id": "off_1", "expires_at": T0, "steps": [{"at": T0}]}, T0)
    with store.read() as q:
        assert idempotency.replay(q, SCOPE, "k1", dict(reversed(body.items()))) == {
            "id": "off_1", "expires_at": T0, "steps": [{"at": T0}]}
        assert idempotency.replay(q, "merchant:mer_2:create-offer", "k1", body) is None  # keys are the caller's
        with pytest.raises(Unprocessable) as refused:
            idempotency.replay(q, SCOPE, "k1", {**body, "quantity": 6})
        assert list(refused.value.errors) == ["Idempotency-Key"]


def test_without_a_key_nothing_is_kept_and_a_twins_key_wins():
    store = MemoryStore()
    with store.write() as q:
        idempotency.remember(q, SCOPE, None, {}, 201, {"id": "off_1"}, T0)
        assert idempotency.replay(q, SCOPE, None, {}) is None
        idempotency.remember(q, SCOPE, "k1", {}, 201, {"id": "off_1"}, T0)
    with pytest.raises(IntegrityConflict):
        with store.write() as q:
            idempotency.remember(q, SCOPE, "k1", {}, 201, {"id": "off_2"}, T0)
    with store.read() as q:
        assert idempotency.replay(q, SCOPE, "k1", {}) == {"id": "off_1"}
    assert len(store.tables.idempotency_keys) == 1
