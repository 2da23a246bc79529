"""Where residents are, in memory: which residents' discs hold a point (the reverse radius query).

- `grid`: the arrays of places, grouped by radius class and latitude cell, sorted by longitude,
  and the candidates a point's box reaches in them; categories as bits; schedules of places.
- `copy_decoder`: PostgreSQL's binary COPY records decoded by numpy, without a Python object per row.
- `loader`: the active residents' places read from the database into the arrays.
- `index`: `SubscriberIndex`, the arrays kept in step with the database, and its queries.
"""
from .grid import SLOTS, PlaceArrays, category_mask
from .index import Reached, SubscriberIndex
from .loader import load_active, load_active_streamed

__all__ = [
    "SLOTS",
    "PlaceArrays",
    "Reached",
    "SubscriberIndex",
    "category_mask",
    "load_active",
    "load_active_streamed",
]
