"""The SQL behind the services' ports (services/ports.py): one module per topic, each a class of
queries on the transaction's session, composed here into the one object a transaction yields.
(deals.py: the deals listing's reads on a bare connection, Store.read_statements.)"""
from __future__ import annotations

from .favorites import FavoriteQueries
from .idempotency import IdempotencyQueries
from .lifecycle import LifecycleQueries
from .offers import OfferQueries
from .shops import ShopQueries
from .subscribers import SubscriberQueries


class Queries(FavoriteQueries, IdempotencyQueries, LifecycleQueries, OfferQueries, ShopQueries, SubscriberQueries):
    """Every topic's queries on one session."""


__all__ = ["Queries"]
