"""The SQL behind the services' ports (services/ports.py): one module per topic, each a class of
queries on the transaction's session, composed here into the one object a transaction yields.
(deals.py: the deals listing's reads on a bare connection, Store.read_statements; outbox/: the
dispatcher's, a module per step.)"""
from __future__ import annotations

from .activity import ActivityQueries
from .audit import AuditQueries
from .auth import AuthQueries
from .erasure import ErasureQueries
from .favorites import FavoriteQueries
from .merchants import MerchantQueries
from .rules import RuleQueries
from .followers import FollowerQueries
from .reservations import ReservationQueries
from .retention import RetentionQueries
from .figures import FigureQueries
from .funnel import FunnelQueries
from .maps import MapQueries
from .scheduler import SchedulerQueries
from .idempotency import IdempotencyQueries
from .lifecycle import LifecycleQueries
from .offers import OfferQueries
from .outbox import OutboxQueries
from .shops import ShopQueries
from .subscribers import SubscriberQueries


class Queries(FavoriteQueries, ShopQueries, SubscriberQueries,
              # merchants and operators
              ActivityQueries, AuditQueries, AuthQueries, ErasureQueries, MerchantQueries, RuleQueries,
              # residents
              FollowerQueries, ReservationQueries, RetentionQueries,
              # numbers
              FigureQueries, FunnelQueries, MapQueries, SchedulerQueries,
              # offers
              IdempotencyQueries, LifecycleQueries, OfferQueries,
              # the dispatcher's outbox
              OutboxQueries):
    """Every topic's queries on one session."""


__all__ = ["Queries"]
