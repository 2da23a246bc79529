"""The composition root: builds every adapter and service from the settings, for the web app and
the workers alike."""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from config import Settings

from .adapters.timezones import time_zones
from .adapters.db import Database, make_engine
from .adapters.db import migrate
from .adapters.db.store import Store
from .adapters.db.preflight import DatabaseProblem, check_database
from .adapters.spatial import ShopIndex, SubscriberIndex
from .adapters.secret_files import kept_secret
from .adapters.geocoding import CachingGeocoder, Geocoder, NominatimGeocoder, OfflineGeocoder
from .adapters.fcm_curl import CurlPushGateway
from .adapters.push import FirebasePushGateway, PushGateway
from .adapters.images import PillowPhotos
from .adapters.media_store import LocalMediaStore
from .domain.clock import Clock, system_clock
from .services.auth import AuthService
from .services.dispatch import DispatchSettings, Dispatcher
from .services.push_breaker import BreakerSettings
from .services.erasure import ErasureService
from .services.favorites import FavoriteService
from .services.activity import ActivityService
from .services.audit import AuditService
from .services.figures import FiguresService
from .services.funnel import FunnelService
from .services.lifecycle import ExpiryService
from .services.maps import MapService
from .services.reservations import ReservationService
from .services.retention import RetentionService
from .services.scheduler import Periodic, Scheduler
from .services.merchants import MerchantService
from .services.offers import OfferService
from .services.photos import PhotoService
from .services.price_steps import PriceStepService
from .services.rules import RulesService
from .services.shops import ShopService
from .services.subscribers import SubscriberService

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock
    admin_token: str
    rules: RulesService
    auth: AuthService
    merchants: MerchantService
    shops: ShopService
    offers: OfferService
    photos: PhotoService
    subscribers: SubscriberService
    favorites: FavoriteService
    index: SubscriberIndex
    shop_index: ShopIndex
    push: PushGateway
    dispatcher: Dispatcher
    reservations: ReservationService
    expiry: ExpiryService
    scheduler: Scheduler
    figures: FiguresService
    price_steps: PriceStepService
    maps: MapService
    retention: RetentionService
    erasure: ErasureService
    funnel: FunnelService
    audit: AuditService
    activity: ActivityService

    def close(self) -> None:
        """After the workers' loops have returned (workers.runtime, EmbeddedWorkers): the
        gateway's pool goes last but one, so no lane ever submits to a shut-down pool."""
        close = getattr(self.push, "close", None)
        if close is not None:
            close()
        self.db.dispose()


def admin_token(settings: Settings) -> str:
    """DEALSVC_ADMIN_TOKEN, or in development one generated at first start and kept in
    var/admin-token, so it survives restarts and `make run` can print it."""
    if settings.admin_token:
        return settings.admin_token
    path = Path(settings.var_dir) / "admin-token"
    token, made = kept_secret(path, lambda: "dsa_" + secrets.token_urlsafe(32))
    if made:
        log.warning("generated an operator token in %s", path)
    return token


def _make_var_dir(settings: Settings) -> None:
    """The service's own directory, made when the SQLite database goes there (the default; any
    other directory must exist). Nothing is made for PostgreSQL: production's units may not write."""
    if not settings.is_sqlite:
        return
    database = make_url(settings.database_url).database
    var_dir = Path(settings.var_dir).absolute()
    if database and database != ":memory:" and Path(database).absolute().parent == var_dir:
        var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)


def database_problem(settings: Settings) -> DatabaseProblem | None:
    """Before a process starts: None when its database answers, otherwise what is wrong and how
    to fix it, in one line (`python -m dealsvc`, the workers)."""
    _make_var_dir(settings)
    return check_database(settings.database_url)


def figures_key(settings: Settings) -> bytes:
    """The secret behind the offsets of merchants' figures (domain/privacy.py). Every process and
    host must share it, and keep it across restarts (another key would give every figure a fresh
    reading to average): derived from DEALSVC_SECRET_KEY when that is set, else generated at
    first start and kept in var/figures-key."""
    if settings.secret_key:
        return hmac.new(settings.secret_key.encode(), b"dealsvc merchants' figures", hashlib.sha256).digest()
    path = Path(settings.var_dir) / "figures-key"
    key, made = kept_secret(path, lambda: secrets.token_urlsafe(48))
    if made:
        log.info("generated the key of merchants' figures in %s", path)
    return key.encode()


def make_geocoder(settings: Settings) -> Geocoder:
    if settings.geocoder == "none":
        return OfflineGeocoder()
    if settings.geocoder == "nominatim":
        return NominatimGeocoder(
            settings.nominatim_url,
            settings.geocoder_user_agent,
            settings.geocoder_timeout_s,
            settings.geocoder_min_delay_s,
        )
    raise ValueError(f"DEALSVC_GEOCODER must be 'nominatim' or 'none', not {settings.geocoder!r}")


def make_push_gateway(settings: Settings) -> PushGateway:
    gateway = CurlPushGateway if settings.fcm_transport == "curl" else FirebasePushGateway
    return gateway(
        project_id=settings.fcm_project_id,
        credentials_path=settings.fcm_credentials,
        endpoint=settings.fcm_base_url,
        **({"concurrency": settings.push_concurrency} if settings.push_concurrency else {}),
    )


def bootstrap(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    geocoder: Geocoder | None = None,
    push: PushGateway | None = None,
    migrate_schema: bool | None = None,
    engine: Engine | None = None,
) -> Container:
    """`engine`: one the caller keeps for settings.database_url (made by make_engine), for many
    containers in turn: SQLAlchemy caches compiled statements per engine, so a new engine
    compiles every statement again (the tests' containers, one per test, share one per
    database). Closing the container only closes the engine's connections."""
    _make_var_dir(settings)
    db = Database(engine or make_engine(settings.database_url))
    store = Store(db)  # the services' transactions, through their ports (services/ports.py)
    if settings.auto_migrate if migrate_schema is None else migrate_schema:
        migrate.upgrade(db.engine)
    rules = RulesService(store, clock)
    token = admin_token(settings)
    figures_secret = figures_key(settings)
    index = SubscriberIndex(db, clock)
    shop_index = ShopIndex(db, clock)
    push = push or make_push_gateway(settings)
    expiry = ExpiryService(store, clock)
    price_steps = PriceStepService(store, clock)
    retention = RetentionService(store, clock, settings.retention_days)
    media = LocalMediaStore(settings.media_root)  # offers' picture files: kept by photos, dropped by erasure
    dispatch_settings = DispatchSettings(
        batch_size=settings.push_batch_size,
        lease=timedelta(seconds=settings.push_lease_s),
        backoff_base_s=settings.push_backoff_base_s,
        backoff_max_s=settings.push_backoff_max_s,
        lanes=settings.push_lanes,
        breaker=BreakerSettings(base_s=settings.push_breaker_base_s, max_s=settings.push_breaker_max_s),
        db_backoff_max_s=settings.worker_backoff_max_s,
        public_url=settings.public_url,
    )
    figures = FiguresService(store, clock, rules, index, figures_secret)
    return Container(
        settings=settings,
        db=db,
        clock=clock,
        admin_token=token,
        rules=rules,
        auth=AuthService(store, token, clock),
        merchants=MerchantService(store, clock, rules),
        shops=ShopService(store, clock, CachingGeocoder(geocoder or make_geocoder(settings), db, clock), rules, time_zones.zone_at),
        offers=OfferService(store, clock, rules, figures_secret, shop_index if settings.deals_lookup == "index" else None),
        photos=PhotoService(store, clock, PillowPhotos(), media),
        subscribers=SubscriberService(store, clock, rules, time_zones.zone_at, settings.default_locale),
        favorites=FavoriteService(store, clock),
        index=index,
        shop_index=shop_index,
        push=push,
        dispatcher=Dispatcher(store, clock, rules, index, push, dispatch_settings),
        reservations=ReservationService(store, clock, rules),
        expiry=expiry,
        scheduler=Scheduler(
            store, clock, expiry, price_steps, db_backoff_max_s=settings.worker_backoff_max_s,
            lease_ttl=timedelta(seconds=settings.scheduler_lease_s),
            # Hourly (and at election): the personal data kept past its time goes.
            periodic=[Periodic("retention", timedelta(hours=1), retention.purge)],
        ),
        figures=figures,
        price_steps=price_steps,
        maps=MapService(store, clock, figures),
        retention=retention,
        erasure=ErasureService(store, clock, media),
        funnel=FunnelService(store, clock, figures_secret),
        audit=AuditService(store, clock),
        activity=ActivityService(store, clock),
    )
