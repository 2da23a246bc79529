"""The SQL behind the services' ports (services/ports.py): one module per topic, each a class of
queries on the transaction's session, composed here into the one object a transaction yields."""
from __future__ import annotations

from .favorites import FavoriteQueries
from .figures import FigureQueries
from .funnel import FunnelQueries
from .maps import MapQueries
from .scheduler import SchedulerQueries
from .shops import ShopQueries
from .subscribers import SubscriberQueries


class Queries(FavoriteQueries, ShopQueries, SubscriberQueries, FigureQueries, MapQueries, FunnelQueries, SchedulerQueries):
    """Every topic's queries on one session."""


__all__ = ["Queries"]
