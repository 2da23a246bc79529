"""The tables, as SQLAlchemy 2 typed models; Alembic migrations in migrations/ create them."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Stored as naive UTC on every engine, returned as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # active | pending | suspended
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the operator erased the merchant's personal data (services/erasure.py).
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    shops: Mapped[list["Shop"]] = relationship(back_populates="merchant")


class Shop(Base):
    __tablename__ = "shops"
    __table_args__ = (Index("ix_shops_lat_lon", "lat", "lon"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(500))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    # The IANA zone of lat/lon (adapters.timezones), kept with them: the shop's clock.
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    # OpenStreetMap's opening_hours syntax, read on that clock (domain/hours.py); None: unknown.
    opening_hours: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Indexed: each process's in-memory shop index reads the rows changed since it last looked
    # (a shop that moved, or a new one), so every change must set it.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    merchant: Mapped[Merchant] = relationship(back_populates="shops")
    offers: Mapped[list["Offer"]] = relationship(back_populates="shop")


class Offer(Base):
    __tablename__ = "offers"
    __table_args__ = (
        Index("ix_offers_status_expires_at", "status", "expires_at"),
        # The deals listing: the live offers of the shops the shop index found.
        Index("ix_offers_shop_live", "shop_id", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    original_price_cents: Mapped[int] = mapped_column(Integer)
    price_cents: Mapped[int] = mapped_column(Integer)
    discount_pct: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[int] = mapped_column(Integer)
    quantity_left: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    image_url: Mapped[str | None] = mapped_column(String(2048))
    # The shopkeeper's photo (domain/photos.py): the names of its large version and thumbnail
    # in the media store; None: no photo.
    photo: Mapped[str | None] = mapped_column(String(80))
    thumbnail: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The shopkeeper's schedule of lower prices: [{"at": ISO UTC, "price_cents", "discount_pct"}],
    # ascending in time, each held to the band when posted; None: no schedule. A step applied
    # also keeps "previous_price_cents", the price it replaced (domain/pricing.py).
    price_steps: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    price_step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # steps applied
    # When the next step falls due (None: none left); the scheduler applies what is due.
    next_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    shop: Mapped[Shop] = relationship(back_populates="offers")


class Subscriber(Base):
    __tablename__ = "subscribers"
    __table_args__ = (
        Index("ix_subscribers_fcm_token", "fcm_token"),
    )

    # An integer key for the geo index (R*Tree and arrays want integers); `id` is the public one.
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    fcm_token: Mapped[str] = mapped_column(String(4096))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[int] = mapped_column(Integer)
    categories: Mapped[list[str]] = mapped_column(JSON)
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64))
    # True while the timezone is the one found from lat/lon (the resident never sent one): a
    # move then brings the zone of the new place along; a timezone sent by the resident stays.
    timezone_auto: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # it | fr | en (domain.locales.LOCALES): the language of every push the resident gets.
    locale: Mapped[str] = mapped_column(String(8), server_default="en")
    max_per_day: Mapped[int | None] = mapped_column(Integer)
    # Wants a push at each price step of an offer it was told about.
    price_drops: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    active: Mapped[bool] = mapped_column(Boolean, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Indexed: the in-memory geo index reads the rows changed since it last looked.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Set when the resident unsubscribes: the personal data is wiped at once, the row stays so
    # that every index and the shop's statistics see the change.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the app last presented fcm_token (sign-up, PATCH with fcm_token): a token unseen for
    # long is not pushed to, then dropped (domain/retention.py).
    token_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # When `active` last went false (dead token, registered again, token dropped): the
    # retention job wipes the personal data of residents deactivated long enough ago.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The privacy notice accepted (domain/consent.py) and when.
    privacy_notice_version: Mapped[str | None] = mapped_column(String(16))
    privacy_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    places: Mapped[list["SubscriberPlace"]] = relationship(
        order_by="SubscriberPlace.position", cascade="all, delete-orphan"
    )


class SubscriberPlace(Base):
    """A resident's place beyond the main one (lat/lon/radius_m on the subscriber: position 0),
    such as work, counted only on its days and within its hours (the resident's timezone).
    Every change to it also sets the subscriber's updated_at, which the geo index follows."""

    __tablename__ = "subscriber_places"

    subscriber_pk: Mapped[int] = mapped_column(ForeignKey("subscribers.pk"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1, 2
    label: Mapped[str] = mapped_column(String(32))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[int] = mapped_column(Integer)
    days: Mapped[int] = mapped_column(Integer)  # bit 0 Monday ... bit 6 Sunday; 127 every day
    hours_start: Mapped[str | None] = mapped_column(String(5))  # HH:MM, or None: all day
    hours_end: Mapped[str | None] = mapped_column(String(5))


class Favorite(Base):
    """A resident follows a shop: its offers reach them up to max_radius_m, in the first wave."""

    __tablename__ = "favorites"

    subscriber_pk: Mapped[int] = mapped_column(ForeignKey("subscribers.pk"), primary_key=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Fanout(Base):
    """The durable promise, written with the offer, that its audience will be worked out and
    told; the dispatcher expands it into notifications and marks it done."""

    __tablename__ = "fanouts"
    __table_args__ = (Index("ix_fanouts_pending", "done_at", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), index=True)
    # "offer": tell (the next wave of) the audience of an offer; "withdraw": tell those told
    # that it is gone; "price": tell those told who want price drops of step `seq`.
    kind: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # wave or step number
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    matched: Mapped[int | None] = mapped_column(Integer)


class Notification(Base):
    """One push to one resident about one offer: the unique triple makes "exactly one push
    per subscriber per offer" (and one withdrawal of it) a database fact."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("offer_id", "subscriber_pk", "kind", name="uq_notifications_offer_subscriber_kind"),
        # The outbox's indexes name no column the recording of a batch's sent push writes
        # (status, attempts, sent_at, its FCM id...): that update, one per push, is HOT on
        # PostgreSQL, no index entry written (migration 0020, which also leaves room on each page).
        # The pending pushes, by when they fall due: the claim of pushes due on their own.
        Index("ix_notifications_due", "pending_due_at", postgresql_where=text("pending_due_at IS NOT NULL"),
              sqlite_where=text("pending_due_at IS NOT NULL")),
        # A push claimed on its own (a retry, a deferral) whose lease may run out; the rows of a
        # batch have no lease of their own (their batch has) and stay out of it.
        Index("ix_notifications_lease", "lease_until", postgresql_where=text("lease_until IS NOT NULL"),
              sqlite_where=text("lease_until IS NOT NULL")),
        # A batch's rows.
        Index("ix_notifications_batch", "batch_id", postgresql_where=text("batch_id IS NOT NULL"),
              sqlite_where=text("batch_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"))  # looked up by the unique triple
    # None once the alert is older than the retention period (services/retention.py): the
    # offers' stats count it, nothing links it to a resident any more.
    subscriber_pk: Mapped[int | None] = mapped_column(ForeignKey("subscribers.pk"), index=True)
    # "offer": the alert; "withdraw": the data message that replaces it when the deal is gone.
    kind: Mapped[str] = mapped_column(String(16), default="offer", server_default="offer")
    # pending -> sending -> sent | failed | suppressed | dropped  (see services/dispatch/)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # due_at while the push is pending, NULL otherwise: what ix_notifications_due holds.
    pending_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set only while a push claimed on its own is 'sending': when its claim runs out.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    fcm_message_id: Mapped[str | None] = mapped_column(String(200))
    distance_m: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The dispatcher process (host:pid) whose send FCM accepted.
    sent_by: Mapped[str | None] = mapped_column(String(100))
    # When the resident first opened it (POST /api/v1/notifications/{id}/opened).
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The push batch it was planned in (push_batches); kept once sent (ids are never reused).
    batch_id: Mapped[int | None] = mapped_column(Integer)
    # What a shop's funnel counts of a sent alert, kept when the retention period cuts the alert's
    # link to its resident (services/retention.py): its distance ring and how far its resident went.
    kept_ring: Mapped[str | None] = mapped_column(String(16))
    kept_opened: Mapped[bool | None] = mapped_column(Boolean)
    kept_reserved: Mapped[bool | None] = mapped_column(Boolean)
    kept_collected: Mapped[bool | None] = mapped_column(Boolean)


class PushBatch(Base):
    """A batch of planned pushes, claimed (and its claim renewed) as one row: its notifications
    wait as 'sending' with batch_id set, and leave that state all at once when the batch's
    answers are recorded, which deletes it. A batch whose claim ran out is claimed again."""

    __tablename__ = "push_batches"
    # Ids never reused (SQLite's AUTOINCREMENT): a row never meets a later batch of its batch's id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Claims so far: 0 until a dispatcher takes it; a claim's recording checks it is still its own.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PushQuota(Base):
    """Pushes counted per resident per local day, for the daily caps."""

    __tablename__ = "push_quota"

    subscriber_pk: Mapped[int] = mapped_column(ForeignKey("subscribers.pk"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class Reservation(Base):
    """A resident's hold on part of an offer's stock, collected at the shop with its code."""

    __tablename__ = "reservations"
    __table_args__ = (
        # The scheduler's sweep: holds past their time that are still held.
        Index("ix_reservations_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), index=True)
    subscriber_pk: Mapped[int] = mapped_column(ForeignKey("subscribers.pk"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(12))
    # domain/reservations.py: held -> collected | released | expired
    status: Mapped[str] = mapped_column(String(16))
    # Indexed: the scheduler gives the holds made since it last looked their date jobs.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the hold ends unless collected (hold_minutes, or the offer's end if sooner).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyKey(Base):
    """The first answer to a request sent with an Idempotency-Key, kept to replay it."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(120), primary_key=True)  # who, and which route
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the request body
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Lease(Base):
    """A named lease held by one process at a time (the scheduler's election)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OperatorRules(Base):
    """One row: the rules in force, as stored values over the defaults in domain.rules."""

    __tablename__ = "operator_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stored: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RuleChange(Base):
    __tablename__ = "rule_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    name: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[Any] = mapped_column(JSON)
    new_value: Mapped[Any] = mapped_column(JSON)
    # The operator's action that made it (OperatorAudit.id; None before the audit was kept).
    audit_id: Mapped[int | None] = mapped_column(Integer, index=True)


class OperatorAudit(Base):
    """One operator action: who (the kind of credential and which one), when, what, on what.
    A change of rules keeps its values in rule_changes, each line naming its entry here."""

    __tablename__ = "operator_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))  # domain/audit.py: api | console
    actor: Mapped[str] = mapped_column(String(64))  # a fingerprint of the token or session, never it
    action: Mapped[str] = mapped_column(String(32))  # domain/audit.py
    target: Mapped[str | None] = mapped_column(String(64))  # a merchant's id, ...
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class WebSession(Base):
    """A signed-in session of the pages (the shop's page or the operator's console). The cookie
    carries its id, stored here only as a hash; signing out deletes the row, so a copy of the
    cookie stops working at once, on every process and host."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # merchant | operator
    # The merchant's id; for the operator, a mark of the token, so that a new token signs out.
    subject: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class GeocodeCache(Base):
    """Answers of the geocoder, kept so the same address is never asked twice."""

    __tablename__ = "geocode_cache"

    query: Mapped[str] = mapped_column(String(500), primary_key=True)
    found: Mapped[bool] = mapped_column(Boolean)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    display_name: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
