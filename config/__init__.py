"""Typed settings read once from the DEALSVC_* environment variables (the only reader of os.environ)."""
from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Mapping
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"


class SettingsError(ValueError):
    """A DEALSVC_* variable has a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{VAR_DIR / 'dealsvc.db'}"
    # None: generated on first start and kept in var/admin-token (development only).
    admin_token: str | None = None
    # Signs the pages' session cookie. None: generated on first start into var/web-secret-key,
    # which is per host; with several web hosts, set the same value everywhere.
    secret_key: str | None = None
    workers: str = "embedded"
    # GET /api/v1/deals: "index" (each process's in-memory shop index, then the live offers of
    # the shops in reach from the database) or "box" (one SQL query on a bounding box: the
    # alternative bench/api.py measures beside it).
    deals_lookup: str = "index"
    fcm_credentials: str | None = None
    fcm_endpoint: str | None = None
    fcm_project_id: str = "dealsvc-dev"
    # How pushes travel to FCM; firebase-admin builds, signs and reads them either way.
    # "curl": libcurl (pycurl) over HTTP/2, many in flight from one thread (about a tenth of the
    # CPU per push: bench/transport.py); "requests": firebase-admin's own messaging.send on
    # threads.
    fcm_transport: str = "curl"
    host: str = "127.0.0.1"
    port: int = 8000
    # Geocoding of shop addresses (geopy's Nominatim client).
    geocoder: str = "nominatim"
    nominatim_url: str = "https://nominatim.openstreetmap.org"
    geocoder_user_agent: str = "dealsvc/1.0 (neighbourhood surplus food alerts)"
    geocoder_min_delay_s: float = 1.0
    geocoder_timeout_s: float = 5.0
    # Upgrade the schema at start (development); production runs `python -m dealsvc migrate`.
    auto_migrate: bool = True
    max_request_bytes: int = 64 * 1024
    # An offer's photo (the API's upload and the shop page's form that carries one): bodies up to
    # this many bytes, instead of max_request_bytes. A phone's photo is 2–8 MB.
    max_upload_bytes: int = 12 * 1024 * 1024
    # Where offers' photos are kept (every web process must see the same files). None: var/media.
    media_dir: Path | None = None
    # The push dispatcher: how many pushes a claim takes, how long a claim is held before
    # another dispatcher may take it over (renewed while its batch is on the wire, so it only
    # matters after a crash). Large, since the outbox's database work is per batch: 1000
    # instead of 250 took PostgreSQL from 111 to 89 µs of CPU per push (bench/fanout).
    push_batch_size: int = 1000
    push_lease_s: float = 60.0
    # A push's retries while it is useful (no cap on their number): capped exponential backoff
    # with full jitter; FCM's Retry-After is honoured up to the cap.
    push_backoff_base_s: float = 2.0
    push_backoff_max_s: float = 900.0
    # The circuit breaker: when FCM fails for everyone, sending pauses this long at first,
    # doubling (with jitter) up to the maximum while it keeps failing.
    push_breaker_base_s: float = 5.0
    push_breaker_max_s: float = 300.0
    # The workers' longest sleep between tries while the database is away.
    worker_backoff_max_s: float = 10.0
    # The scheduler's lease: renewed every third of it by the process that leads; a standby
    # takes over once it has run out, so a dead leader's jobs wait this long at most.
    scheduler_lease_s: float = 6.0
    # Pushes in flight at once per dispatcher process (HTTP requests to FCM), and how many
    # batches each dispatcher process works on side by side (one is sent while another is
    # claimed or recorded).
    # None: the transport's own (curl: 512, which costs no thread; requests: 32 threads).
    push_concurrency: int | None = None
    push_lanes: int = 2
    log_level: str = "INFO"
    # The language of pages, and of a subscriber whose POST sends no `locale`, when the request's
    # Accept-Language names none of dealsvc's languages (dealsvc.domain.locales.LOCALES).
    default_locale: str = "en"
    # What the pages and the web app call the service (a city may run it under its own name).
    brand: str = "dealsvc"
    # Days a departed resident's personal data is kept (a dead token, a phone registered again):
    # then the retention job (services/retention.py) wipes their places, favourites and token,
    # and older alerts keep no distance and no link to a resident. Leaving with DELETE is at once.
    retention_days: int = 30
    # The service's public address, without a trailing slash ("https://deals.example.org"):
    # a tap on a web push opens the offer's page there (only when it is https: FCM takes no
    # other link). None: pushes carry no link.
    public_url: str | None = None
    # Real web push for the residents' web app: the Firebase web app's config (apiKey,
    # projectId, messagingSenderId, appId and any other keys Firebase gives, all strings) and
    # the public key of its web push certificate (VAPID). None: the app uses the built-in
    # emulator where it is served.
    firebase_web_config: Mapping[str, str] | None = None
    firebase_vapid_key: str | None = None
    # The web app's maps: a tile URL template with {z}, {x} and {y} ({s} and {r} as Leaflet
    # reads them), and the attribution its provider asks for. None: maps without tiles (and no
    # request to another origin).
    map_tiles: str | None = None
    map_attribution: str | None = None
    # APScheduler logs two INFO lines per job run (several a second): kept at WARNING unless
    # raised here (DEBUG or INFO while looking into the scheduler).
    apscheduler_log_level: str = "WARNING"
    # The FCM emulator built into the web app (/emulator/): it shows every token and push to whoever
    # asks and lets them inject faults. "auto": served only in the one-process development set-up
    # (embedded workers, listening on loopback, no FCM setting) and only to loopback clients;
    # "on": served (to anyone who can reach the port) whenever no FCM setting is given; "off": never.
    emulator: str = "auto"
    # Rate limits on the public sign-ups (per client address) and on reservations (per
    # subscriber), in the `limits` notation ("10/minute", "10/minute;100/hour"); None: no limit.
    # Counted in Redis when redis_url is set, so that every process shares them; otherwise each
    # process counts in its own memory (enough for the one process `make run` starts).
    redis_url: str | None = None
    rate_limit_subscribers: str | None = "10/minute"
    rate_limit_merchants: str | None = "5/minute"
    rate_limit_reservations: str | None = "30/minute"
    # Failed sign-ins on the pages and refused bearer secrets on the API (every role), per
    # client address; a caller whose secret is good is never counted.
    rate_limit_failed_auth: str | None = "20/minute"
    rate_limit_key_prefix: str = "dealsvc"
    # How many reverse proxies in front of the service append to X-Forwarded-For: the client
    # address is taken from that header only when this says so (any client can write it).
    trusted_proxies: int = 0
    # Prometheus multiprocess mode: every process of the deployment (web workers, dispatchers,
    # scheduler) writes its samples in this directory and /metrics serves their sum. None: each
    # process counts in its own memory and /metrics shows the process that answers (enough for
    # the one process `make run` starts). Emptied at the start of a deployment, never by a process.
    metrics_dir: Path | None = None
    var_dir: Path = field(default=VAR_DIR)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        defaults = cls()

        def get(name: str, default):
            value = env.get(f"DEALSVC_{name}")
            return default if value is None or value == "" else value

        workers = get("WORKERS", defaults.workers)
        if workers not in ("embedded", "external"):
            raise SettingsError(f"DEALSVC_WORKERS must be 'embedded' or 'external', not {workers!r}")
        deals_lookup = get("DEALS_LOOKUP", defaults.deals_lookup)
        if deals_lookup not in ("index", "box"):
            raise SettingsError(f"DEALSVC_DEALS_LOOKUP must be 'index' or 'box', not {deals_lookup!r}")
        fcm_transport = get("FCM_TRANSPORT", defaults.fcm_transport).strip().lower()
        if fcm_transport not in ("curl", "requests"):
            raise SettingsError(f"DEALSVC_FCM_TRANSPORT must be 'curl' or 'requests', not {fcm_transport!r}")
        emulator = get("EMULATOR", defaults.emulator).strip().lower()
        if emulator not in ("auto", "on", "off"):
            raise SettingsError(f"DEALSVC_EMULATOR must be 'auto', 'on' or 'off', not {emulator!r}")
        fcm_credentials, fcm_endpoint = get("FCM_CREDENTIALS", None), get("FCM_ENDPOINT", None)
        if emulator == "on" and (fcm_credentials or fcm_endpoint):
            raise SettingsError(
                "DEALSVC_EMULATOR=on serves the built-in FCM emulator, which pushes go to only without "
                "DEALSVC_FCM_CREDENTIALS and DEALSVC_FCM_ENDPOINT: unset those, or DEALSVC_EMULATOR"
            )
        return cls(
            database_url=get("DATABASE_URL", defaults.database_url),
            admin_token=_admin_token(get("ADMIN_TOKEN", None)),
            secret_key=_secret_key(get("SECRET_KEY", None)),
            workers=workers,
            deals_lookup=deals_lookup,
            fcm_credentials=fcm_credentials,
            fcm_endpoint=fcm_endpoint,
            fcm_transport=fcm_transport,
            emulator=emulator,
            fcm_project_id=get("FCM_PROJECT_ID", defaults.fcm_project_id),
            host=get("HOST", defaults.host),
            port=_int("PORT", get("PORT", defaults.port)),
            geocoder=get("GEOCODER", defaults.geocoder),
            nominatim_url=get("NOMINATIM_URL", defaults.nominatim_url).rstrip("/"),
            geocoder_user_agent=get("GEOCODER_USER_AGENT", defaults.geocoder_user_agent),
            geocoder_min_delay_s=_float("GEOCODER_MIN_DELAY_S", get("GEOCODER_MIN_DELAY_S", defaults.geocoder_min_delay_s)),
            geocoder_timeout_s=_float("GEOCODER_TIMEOUT_S", get("GEOCODER_TIMEOUT_S", defaults.geocoder_timeout_s)),
            auto_migrate=_bool("AUTO_MIGRATE", get("AUTO_MIGRATE", "1")),
            max_request_bytes=_int("MAX_REQUEST_BYTES", get("MAX_REQUEST_BYTES", defaults.max_request_bytes)),
            max_upload_bytes=_positive("MAX_UPLOAD_BYTES", get("MAX_UPLOAD_BYTES", defaults.max_upload_bytes)),
            push_batch_size=_int("PUSH_BATCH_SIZE", get("PUSH_BATCH_SIZE", defaults.push_batch_size)),
            push_lease_s=_float("PUSH_LEASE_S", get("PUSH_LEASE_S", defaults.push_lease_s)),
            push_backoff_base_s=_non_negative("PUSH_BACKOFF_BASE_S", get("PUSH_BACKOFF_BASE_S", defaults.push_backoff_base_s)),
            push_backoff_max_s=_non_negative("PUSH_BACKOFF_MAX_S", get("PUSH_BACKOFF_MAX_S", defaults.push_backoff_max_s)),
            push_breaker_base_s=_non_negative("PUSH_BREAKER_BASE_S", get("PUSH_BREAKER_BASE_S", defaults.push_breaker_base_s)),
            push_breaker_max_s=_non_negative("PUSH_BREAKER_MAX_S", get("PUSH_BREAKER_MAX_S", defaults.push_breaker_max_s)),
            worker_backoff_max_s=_non_negative("WORKER_BACKOFF_MAX_S", get("WORKER_BACKOFF_MAX_S", defaults.worker_backoff_max_s)),
            scheduler_lease_s=_lease("SCHEDULER_LEASE_S", get("SCHEDULER_LEASE_S", defaults.scheduler_lease_s)),
            push_concurrency=_optional_positive("PUSH_CONCURRENCY", get("PUSH_CONCURRENCY", None)),
            push_lanes=_positive("PUSH_LANES", get("PUSH_LANES", defaults.push_lanes)),
            default_locale=_locale("DEFAULT_LOCALE", get("DEFAULT_LOCALE", defaults.default_locale)),
            brand=_brand(get("BRAND", defaults.brand)),
            retention_days=_positive("RETENTION_DAYS", get("RETENTION_DAYS", defaults.retention_days)),
            public_url=_public_url(get("PUBLIC_URL", None)),
            **_web_push(get("FIREBASE_WEB_CONFIG", None), get("FIREBASE_VAPID_KEY", None)),
            map_tiles=_map_tiles(get("MAP_TILES", None)),
            map_attribution=_map_attribution(get("MAP_ATTRIBUTION", None), get("MAP_TILES", None)),
            log_level=_log_level("LOG_LEVEL", get("LOG_LEVEL", defaults.log_level)),
            apscheduler_log_level=_log_level("APSCHEDULER_LOG_LEVEL", get("APSCHEDULER_LOG_LEVEL", defaults.apscheduler_log_level)),
            redis_url=_redis_url(get("REDIS_URL", None)),
            rate_limit_subscribers=_rate_limit("RATE_LIMIT_SUBSCRIBERS", get("RATE_LIMIT_SUBSCRIBERS", defaults.rate_limit_subscribers)),
            rate_limit_merchants=_rate_limit("RATE_LIMIT_MERCHANTS", get("RATE_LIMIT_MERCHANTS", defaults.rate_limit_merchants)),
            rate_limit_reservations=_rate_limit("RATE_LIMIT_RESERVATIONS", get("RATE_LIMIT_RESERVATIONS", defaults.rate_limit_reservations)),
            rate_limit_failed_auth=_rate_limit("RATE_LIMIT_FAILED_AUTH", get("RATE_LIMIT_FAILED_AUTH", defaults.rate_limit_failed_auth)),
            rate_limit_key_prefix=get("RATE_LIMIT_KEY_PREFIX", defaults.rate_limit_key_prefix),
            trusted_proxies=_at_least_zero("TRUSTED_PROXIES", get("TRUSTED_PROXIES", defaults.trusted_proxies)),
            metrics_dir=_metrics_dir(get("METRICS_DIR", None)),
            media_dir=Path(get("MEDIA_DIR", None)) if get("MEDIA_DIR", None) else None,
        )

    @property
    def fcm_base_url(self) -> str | None:
        """Where pushes go without Google credentials: the configured endpoint, or the
        emulator built into this service (None: Google, or nowhere; see push_target_missing)."""
        if self.fcm_credentials:
            return None
        if self.fcm_endpoint:
            return self.fcm_endpoint
        if self.emulator_enabled:
            return f"http://{_connectable(self.host)}:{self.port}/emulator/fcm"
        return None

    @property
    def emulator_enabled(self) -> bool:
        """Whether the web app serves the built-in emulator (never beside real FCM or another
        endpoint; by default only where nothing outside this machine can reach it)."""
        if self.fcm_credentials or self.fcm_endpoint or self.emulator == "off":
            return False
        return self.emulator == "on" or self.emulator_loopback_only

    @property
    def emulator_loopback_only(self) -> bool:
        """DEALSVC_EMULATOR=auto's case: the one-process development set-up on loopback, where
        the emulator also answers loopback clients only (not those a local proxy forwards)."""
        return self.emulator == "auto" and self.workers == "embedded" and is_loopback(self.host)

    @property
    def emulator_status(self) -> str:
        """Whether and where the built-in emulator is served, for the line each process logs at start."""
        if self.emulator_enabled:
            who = "to loopback clients only" if self.emulator_loopback_only else "to ANY client that reaches this port"
            return f"FCM emulator served at /emulator/ {who} (DEALSVC_EMULATOR={self.emulator}); pushes go to it"
        if self.fcm_credentials:
            target = f"FCM (project {self.fcm_project_id})"
        elif self.fcm_endpoint:
            target = self.fcm_endpoint
        else:
            target = "nowhere: no FCM setting"
        return f"FCM emulator not served (DEALSVC_EMULATOR={self.emulator}); pushes go to {target}"

    @property
    def push_target_missing(self) -> str | None:
        """Why a process that sends pushes must not start (None: it may): no FCM setting, and
        the built-in emulator is not served. Pushes would otherwise fail one by one, unseen."""
        if self.fcm_credentials or self.fcm_endpoint or self.emulator_enabled:
            return None
        why = (
            "DEALSVC_EMULATOR=off" if self.emulator == "off"
            else "DEALSVC_WORKERS=external" if self.workers != "embedded"
            else f"DEALSVC_HOST={self.host} is not a loopback address"
        )
        return (
            f"no FCM is configured and the built-in emulator is not served ({why}): set "
            "DEALSVC_FCM_CREDENTIALS (real FCM) or DEALSVC_FCM_ENDPOINT (a standalone emulator), "
            "or DEALSVC_EMULATOR=on to serve the built-in one to anyone who can reach this port"
        )

    @property
    def web_push_warning(self) -> str | None:
        """What to log at start when the web app gets real FCM tokens (Firebase web config) that
        this service will not push to, its pushes going elsewhere than FCM (None: nothing to say)."""
        if not self.firebase_web_config or self.fcm_credentials:
            return None
        target = self.fcm_endpoint or ("the built-in emulator" if self.emulator_enabled else "nowhere")
        return (
            "DEALSVC_FIREBASE_WEB_CONFIG is set, so residents' browsers register real FCM tokens, but pushes "
            f"go to {target} (no DEALSVC_FCM_CREDENTIALS): their alerts will not reach them"
        )

    @property
    def media_root(self) -> Path:
        return self.media_dir or Path(self.var_dir) / "media"

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: reachable from this machine only."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _connectable(host: str) -> str:
    """An address this machine's own clients can connect to, for a listening address."""
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _int(name: str, value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"DEALSVC_{name} must be an integer, not {value!r}") from None


def _positive(name: str, value) -> int:
    number = _int(name, value)
    if number < 1:
        raise SettingsError(f"DEALSVC_{name} must be at least 1, not {value!r}")
    return number


def _optional_positive(name: str, value) -> int | None:
    return None if value is None else _positive(name, value)


def _float(name: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"DEALSVC_{name} must be a number, not {value!r}") from None


def _non_negative(name: str, value) -> float:
    number = _float(name, value)
    if not 0 <= number < float("inf"):
        raise SettingsError(f"DEALSVC_{name} must be a number of seconds, 0 or more, not {value!r}")
    return number


# A lease shorter than this is renewed so often that a busy process may miss its renewal.
MIN_LEASE_S = 1.0


def _lease(name: str, value) -> float:
    number = _float(name, value)
    if not MIN_LEASE_S <= number < float("inf"):
        raise SettingsError(f"DEALSVC_{name} must be a number of seconds, {MIN_LEASE_S:g} or more, not {value!r}")
    return number


def _bool(name: str, value) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"DEALSVC_{name} must be true or false, not {value!r}")


def _at_least_zero(name: str, value) -> int:
    number = _int(name, value)
    if number < 0:
        raise SettingsError(f"DEALSVC_{name} must be 0 or more, not {value!r}")
    return number


def _rate_limit(name: str, value: str | None) -> str | None:
    """A limit in the `limits` notation, checked here so that a typo stops the start instead of
    leaving a route unprotected; 'off' removes the limit."""
    if value is None or str(value).strip().lower() == "off":
        return None
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise SettingsError(
            f"DEALSVC_{name} must be a rate limit such as '10/minute' or '10/minute;100/hour', or 'off', not {value!r}"
        ) from None
    return value


def _redis_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("redis://", "rediss://", "redis+unix://")):
        raise SettingsError(f"DEALSVC_REDIS_URL must be a redis://, rediss:// or redis+unix:// URL, not {value!r}")
    return value


MIN_ADMIN_TOKEN_LENGTH = 32


# What deploy/dealsvc.env.example writes where a secret goes: a copy left unchanged would run
# with a secret anyone can read, whatever its length.
PLACEHOLDER = "CHANGE-ME"


def _secret(name: str, value: str | None, minimum: int, make: str, otherwise: str) -> str | None:
    """A secret setting: unset, or long enough and not the example's placeholder."""
    if value is None:
        return None
    how = f"Set a long random one (python3 -c 'import secrets; print(secrets.token_urlsafe({make}))'){otherwise}."
    if PLACEHOLDER.lower() in value.lower():
        raise SettingsError(f"DEALSVC_{name} is still the example's placeholder ({PLACEHOLDER}). {how}")
    if len(value) < minimum:
        raise SettingsError(
            f"DEALSVC_{name} is too weak: {len(value)} characters, at least {minimum} are needed. {how}"
        )
    return value


def _admin_token(value: str | None) -> str | None:
    return _secret(
        "ADMIN_TOKEN", value, MIN_ADMIN_TOKEN_LENGTH, "32",
        ", or unset it in development to have one generated and kept in var/admin-token",
    )


def _secret_key(value: str | None) -> str | None:
    return _secret("SECRET_KEY", value, 32, "48", ", the same on every web host")


def _metrics_dir(value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    if not path.is_absolute():
        # Every process must find the same directory, whatever its working directory.
        raise SettingsError(f"DEALSVC_METRICS_DIR must be an absolute path, not {value!r}")
    return path


def export_metrics_environment(settings: Settings | None = None) -> Path | None:
    """Multiprocess metrics: prometheus_client decides when it is first imported whether samples
    live in the process's memory or in files, from PROMETHEUS_MULTIPROC_DIR. Exports it from
    DEALSVC_METRICS_DIR (creating the directory if missing) for this process and the ones it
    starts. Each entry point calls this before anything imports prometheus_client; it does
    nothing when the setting is unset."""
    settings = settings or Settings.from_env()
    path = settings.metrics_dir
    if path is None:
        return None
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"DEALSVC_METRICS_DIR {str(path)!r} is not a directory this process can create: {exc}") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise SettingsError(f"DEALSVC_METRICS_DIR {str(path)!r} is not a directory this process can write in")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def _log_level(name: str, value: str) -> str:
    level = str(value).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"DEALSVC_{name} must be DEBUG, INFO, WARNING or ERROR, not {value!r}")
    return level


def _locale(name: str, value: str) -> str:
    from dealsvc.domain.locales import LOCALES

    locale = str(value).strip().lower()
    if locale not in LOCALES:
        raise SettingsError(f"DEALSVC_{name} must be one of {', '.join(LOCALES)}, not {value!r}")
    return locale


def _brand(value: str) -> str:
    brand = " ".join(str(value).split())
    if not brand or len(brand) > 60:
        raise SettingsError(f"DEALSVC_BRAND must be a name of 1 to 60 characters, not {value!r}")
    return brand


def _public_url(value: str | None) -> str | None:
    """An absolute http(s) address with a host and no query or fragment, without its trailing
    slash (links are written as `{public_url}/app/...`)."""
    if value is None:
        return None
    url = value.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        parts = None
    if (
        parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname
        or parts.query or parts.fragment or "?" in url or "#" in url or any(c.isspace() for c in url)
        or parts.username is not None or parts.password is not None  # it goes into every push
    ):
        raise SettingsError(
            f"DEALSVC_PUBLIC_URL must be the service's address such as https://deals.example.org, not {value!r}"
        )
    # Scheme and host are case-insensitive; FCM checks the link's scheme as written.
    host = parts.netloc.lower()
    return f"{parts.scheme.lower()}://{host}{parts.path}"


# What the Firebase JS SDK needs to get a web push token (the rest of the config is optional).
FIREBASE_WEB_CONFIG_KEYS = ("apiKey", "projectId", "messagingSenderId", "appId")


def _web_push(config: str | None, vapid_key: str | None) -> dict:
    """Real web push takes both the Firebase web config and the VAPID key: one without the
    other would leave the web app on the emulator (or unable to push) without a word."""
    settings = {"firebase_web_config": _firebase_web_config(config), "firebase_vapid_key": _vapid_key(vapid_key)}
    if (config is None) != (vapid_key is None):
        have, lack = ("FIREBASE_WEB_CONFIG", "FIREBASE_VAPID_KEY") if vapid_key is None else ("FIREBASE_VAPID_KEY", "FIREBASE_WEB_CONFIG")
        raise SettingsError(
            f"DEALSVC_{have} is set but DEALSVC_{lack} is not: real web push needs both "
            "(the Firebase web app's config and its web push certificate's public key), or neither"
        )
    return settings


def _firebase_web_config(value: str | None) -> Mapping[str, str] | None:
    if value is None:
        return None
    how = (
        "the Firebase web app's config as a JSON object, e.g. "
        '{"apiKey": "...", "projectId": "...", "messagingSenderId": "...", "appId": "..."}'
    )
    try:
        config = json.loads(value)
    except (ValueError, RecursionError):
        raise SettingsError(f"DEALSVC_FIREBASE_WEB_CONFIG is not JSON: it must be {how}") from None
    if not isinstance(config, dict):
        raise SettingsError(f"DEALSVC_FIREBASE_WEB_CONFIG must be {how}")
    missing = [key for key in FIREBASE_WEB_CONFIG_KEYS if not (isinstance(config.get(key), str) and config[key].strip())]
    if missing:
        raise SettingsError(
            f"DEALSVC_FIREBASE_WEB_CONFIG lacks {', '.join(missing)} (each a non-empty string): it must be {how}"
        )
    not_text = sorted(key for key, item in config.items() if not isinstance(item, str))
    if not_text:
        raise SettingsError(f"DEALSVC_FIREBASE_WEB_CONFIG's values must be strings; not {', '.join(not_text)}")
    return MappingProxyType(dict(config))


def _vapid_key(value: str | None) -> str | None:
    """The web push certificate's public key as Firebase's console shows it: a P-256 public
    key (65 bytes, uncompressed) in URL-safe base64."""
    if value is None:
        return None
    key = value.strip()
    try:
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 65 or raw[0] != 4 or not key.replace("-", "").replace("_", "").rstrip("=").isalnum():
        raise SettingsError(
            "DEALSVC_FIREBASE_VAPID_KEY must be the web push certificate's public key (Firebase console, "
            "Cloud Messaging, Web Push certificates: 87 characters of URL-safe base64)"
        )
    return key


def _map_tiles(value: str | None) -> str | None:
    if value is None:
        return None
    template = value.strip()
    missing = [part for part in ("{z}", "{x}", "{y}") if part not in template]
    scheme = template.split("://", 1)[0].lower() if "://" in template else None
    absolute = scheme in ("http", "https") and bool(urlsplit(template.replace("{s}", "a")).hostname)
    if missing or not (absolute or template.startswith("/") and not template.startswith("//")):
        raise SettingsError(
            "DEALSVC_MAP_TILES must be a tile URL template with {z}, {x} and {y}, such as "
            f"https://tile.example.org/{{z}}/{{x}}/{{y}}.png (or a path on this service), not {value!r}"
        )
    return template


def _map_attribution(value: str | None, tiles: str | None) -> str | None:
    if value is None:
        return None
    if tiles is None:
        raise SettingsError("DEALSVC_MAP_ATTRIBUTION is set without DEALSVC_MAP_TILES: it credits the tiles")
    text = " ".join(value.split())
    if len(text) > 300:
        raise SettingsError(f"DEALSVC_MAP_ATTRIBUTION must be at most 300 characters, not {len(text)}")
    return text
