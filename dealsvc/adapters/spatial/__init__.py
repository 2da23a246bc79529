"""Where residents and shops are, in memory: which residents' discs hold a point (the reverse
radius query), and which shops are within a radius of a point.

- `grid`: the arrays of places, grouped by radius class and latitude cell, sorted by longitude,
  and the candidates a point's box reaches in them; categories as bits; schedules of places.
- `copy_decoder`: PostgreSQL's binary COPY records decoded by numpy, without a Python object per row.
- `loader`: the active residents' places read from the database into the arrays.
- `refresher`: how an index keeps in step with the database (rebuilds, and the rows changed
  since the last look), the same for both.
- `index`: `SubscriberIndex`, the residents' arrays kept in step with the database, and its queries.
- `shops`: `ShopIndex`, the shops' arrays kept in step with the database, and the shops near a point.
"""
from .grid import SLOTS, PlaceArrays, category_mask
from .index import Reached, SubscriberIndex
from .loader import load_active, load_active_streamed
from .refresher import Refresher
from .shops import NearShops, ShopIndex, ShopSnapshot

__all__ = [
    "SLOTS",
    "NearShops",
    "PlaceArrays",
    "Reached",
    "Refresher",
    "ShopIndex",
    "ShopSnapshot",
    "SubscriberIndex",
    "category_mask",
    "load_active",
    "load_active_streamed",
]
