"""The operator's map on the in-memory store: residents are shown only as counts per grid cell, and
never a cell of fewer than ten (domain/privacy.py), without a database."""
import pytest

from dealsvc.domain import privacy
from dealsvc.services.maps import Box, MapService
from tests.support.contracts import T0
from tests.support.fakes import MemoryStore

# The centre of a cell in Milan, and of the cell to its north.
_, LAT, LON = privacy.snap(45.4642, 9.1900)
_, NORTH_LAT, NORTH_LON = privacy.snap(LAT + 0.01, LON)
VIEW = Box(45.40, 9.10, 45.55, 9.30)


@pytest.fixture
def world():
    store = MemoryStore()
    return MapService(store, lambda: T0, figures=None), store


def residents_at(store, n: int, lat: float, lon: float, prefix: str, **extra) -> None:
    for i in range(n):
        store.add_subscriber(f"sub_{prefix}{i}", lat=lat, lon=lon, **extra)


def test_a_cell_of_ten_residents_is_shown_and_one_of_nine_is_not(world):
    maps, store = world
    residents_at(store, privacy.FLOOR, LAT, LON, "here")
    residents_at(store, privacy.FLOOR - 1, NORTH_LAT, NORTH_LON, "north")
    found = maps.residents(VIEW)
    assert found["too_wide"] is False
    assert [(c["cell"], c["residents"]) for c in found["cells"]] == [(privacy.snap(LAT, LON)[0], privacy.FLOOR)]
    assert set(found["cells"][0]) == {"cell", "south", "west", "north", "east", "residents"}  # a cell, never a resident's place


def test_a_resident_counts_once_a_cell_and_only_while_active(world):
    maps, store = world
    # Nine residents, one of them also working in the same cell: still nine, hidden.
    residents_at(store, privacy.FLOOR - 2, LAT, LON, "here")
    store.add_subscriber("sub_twice", lat=LAT, lon=LON, places=[(LAT + 0.0001, LON)])
    assert maps.residents(VIEW)["cells"] == []
    # A tenth who has left does not count; one whose extra place is here does.
    store.add_subscriber("sub_gone", lat=LAT, lon=LON, active=False)
    assert maps.residents(VIEW)["cells"] == []
    store.add_subscriber("sub_works_here", lat=NORTH_LAT + 0.5, lon=NORTH_LON, places=[(LAT, LON)])
    assert [c["residents"] for c in maps.residents(VIEW)["cells"]] == [privacy.FLOOR]


def test_a_view_too_wide_counts_nobody(world):
    maps, store = world
    residents_at(store, privacy.FLOOR, LAT, LON, "here")
    assert maps.residents(Box(44.0, 8.0, 46.0, 10.0)) == {"too_wide": True, "cells": []}
