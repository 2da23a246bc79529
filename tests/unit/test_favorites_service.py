"""FavoriteService on the in-memory store: the rules of following shops, without a database."""
from datetime import timedelta

import pytest

from dealsvc.domain.errors import NotFound, Unprocessable
from dealsvc.services.auth import Principal
from dealsvc.services.favorites import MAX_FAVORITES, FavoriteService
from tests.support.contracts import T0
from tests.support.fakes import Clock, MemoryStore


@pytest.fixture
def world():
    store, clock = MemoryStore(), Clock()
    store.add_subscriber("sub_me")
    for n in range(MAX_FAVORITES + 1):
        store.add_shop(f"shp_{n}", name=f"Shop {n}")
    return FavoriteService(store, clock), store, clock


ME = Principal("subscriber", "sub_me")


def test_following_lists_the_newest_first_and_following_again_changes_nothing(world):
    favorites, _, clock = world
    assert favorites.follow(ME, "sub_me", "shp_1") == ({"shop_id": "shp_1", "name": "Shop 1", "category": "bakery", "created_at": T0}, True)
    clock.now += timedelta(minutes=1)
    favorites.follow(ME, "sub_me", "shp_2")
    again, new = favorites.follow(ME, "sub_me", "shp_1")
    assert (again["created_at"], new) == (T0, False)
    assert [item["shop_id"] for item in favorites.list(ME, "sub_me")["items"]] == ["shp_2", "shp_1"]
    favorites.unfollow(ME, "sub_me", "shp_1")
    assert [item["shop_id"] for item in favorites.list(ME, "sub_me")["items"]] == ["shp_2"]
    with pytest.raises(NotFound):
        favorites.unfollow(ME, "sub_me", "shp_1")


def test_at_most_fifty_shops_and_the_refused_one_is_not_kept(world):
    favorites, store, _ = world
    for n in range(MAX_FAVORITES):
        favorites.follow(ME, "sub_me", f"shp_{n}")
    with pytest.raises(Unprocessable) as refused:
        favorites.follow(ME, "sub_me", f"shp_{MAX_FAVORITES}")
    assert list(refused.value.errors) == ["shop_id"]
    assert len(favorites.list(ME, "sub_me")["items"]) == MAX_FAVORITES
    assert len(store.tables.favorites) == MAX_FAVORITES


def test_someone_elses_list_and_unknown_shops_read_as_missing(world):
    favorites, store, _ = world
    store.add_subscriber("sub_other")
    with pytest.raises(NotFound):
        favorites.list(ME, "sub_other")
    with pytest.raises(NotFound) as unknown:
        favorites.follow(ME, "sub_me", "shp_nowhere")
    assert list(unknown.value.errors) == ["shop_id"]
    store.tables.subscribers["sub_me"].deleted_at = T0
    with pytest.raises(NotFound):
        favorites.list(ME, "sub_me")
