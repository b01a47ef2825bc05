"""Settings for the hub. The only module that reads the environment (see .env.example)."""

import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.embedded import socket_path
from config.queues import rq_queues

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

# Development may run on generated secrets; production must say what it uses, or refuse to start.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"
_DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktaW5zZWN1cmUta2V5LXBhZGRpbmctMDA="  # Fernet key, dev only
_missing = [name for name in ("SECRET_KEY", "HUB_ENCRYPTION_KEYS") if not env.str(name, default="")]
if _missing and not DEBUG:
    raise ImproperlyConfigured(
        f"DEBUG is False but {', '.join(_missing)} is not set. Set it in the environment or .env "
        "(see .env.example); the hub will not start in production with development secrets."
    )
# Said once by whoever serves (config/wsgi.py, `make run`, which tells its children it was said),
# never by every management command.
DEV_SECRETS_WARNING = (
    f"{', '.join(_missing)} not set: using insecure development defaults (DEBUG=True only)."
    if _missing and "pytest" not in sys.modules and not env.bool("HUB_DEV_WARNING_SHOWN", default=False)
    else ""
)

SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY)
HUB_ENCRYPTION_KEYS = env.list("HUB_ENCRYPTION_KEYS", default=[_DEV_ENCRYPTION_KEY])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "import_export",
    "phonenumber_field",
    # After django_rq: its admin module replaces django-rq's registration of the Dashboard.
    "config.ops",
    "channels_app",
    "orders",
    "inventory",
    "messaging",
    "catalog_sync",
]

MIDDLEWARE = [
    "config.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL (PostgreSQL in production and CI), else SQLite under var/ (a fresh machine).
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'hub.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, workers and scheduler write concurrently: WAL lets readers go on, IMMEDIATE takes the
    # write lock up front (no deadlock on upgrade), and a writer waits up to 30 s for it.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so test servers and workers in other processes share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-hub.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # A worker runs the same few statements for every event it processes: it binds their
    # parameters server-side, and from a statement's fifth run on a connection PostgreSQL keeps its
    # plan (psycopg's prepared statements), which took 40% off PostgreSQL's CPU per paid order.
    # The web keeps client-side binding: the intake sends its time bounds in the round trip of
    # each of its statements (channels_app.intake). A pooler that cannot keep prepared statements
    # (PgBouncer in transaction mode before 1.21, or its max_prepared_statements at 0) needs
    # DB_PREPARED_STATEMENTS=False.
    if sys.argv[1:2] == ["rqworker"] and env.bool("DB_PREPARED_STATEMENTS", default=True):
        DATABASES["default"]["OPTIONS"].update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: REDIS_URL, else the embedded Valkey server's socket under var/ (config/embedded.py).
EMBEDDED_REDIS_DIR = VAR_DIR / "valkey"
REDIS_SENTINELS = env.list("REDIS_SENTINELS", default=[])  # host:port,host:port
REDIS_SENTINEL_MASTER = env.str("REDIS_SENTINEL_MASTER", default="mymaster")
REDIS_IS_EMBEDDED = not env.str("REDIS_URL", default="") and not REDIS_SENTINELS
REDIS_URL = env.str("REDIS_URL", default="") or (
    f"unix://{socket_path(EMBEDDED_REDIS_DIR)}" if REDIS_IS_EMBEDDED else ""
)

# Job results: completed kept 24 h, failed 7 days (the dead-letter queue ops retry from).
HUB_JOB_RESULT_TTL = env.int("HUB_JOB_RESULT_TTL", default=24 * 3600)
HUB_JOB_FAILURE_TTL = env.int("HUB_JOB_FAILURE_TTL", default=7 * 24 * 3600)
HUB_JOB_RETRY_INTERVALS = env.list("HUB_JOB_RETRY_INTERVALS", cast=int, default=[2, 4, 8, 16, 32])
HUB_WORKER_SHUTDOWN_GRACE = env.int("HUB_WORKER_SHUTDOWN_GRACE", default=30)
# Threads (each with a database connection) a webhook worker runs a batch's events on: one waits on
# PostgreSQL while another runs Python (channels_app.drain). One on SQLite, whatever this says.
HUB_WEBHOOK_BATCH_THREADS = env.int("HUB_WEBHOOK_BATCH_THREADS", default=2)

RQ_QUEUES = rq_queues(REDIS_URL, sentinels=REDIS_SENTINELS, sentinel_master=REDIS_SENTINEL_MASTER)
RQ = {
    "WORKER_CLASS": "config.workers.HubWorker",
    "COMMIT_MODE": "on_db_commit",
    "DEFAULT_RESULT_TTL": HUB_JOB_RESULT_TTL,
}
RQ_SHOW_ADMIN_LINK = True

# Webhooks
# Unset, it is where `make run` serves (PORT, 8000 by default), so the URLs the hub prints and
# signs (Twilio's and Shopee's signatures cover the URL) are the ones a local test posts to.
PORT = env.int("PORT", default=8000)
WEBHOOK_BASE_URL = env.str("WEBHOOK_BASE_URL", default=f"http://127.0.0.1:{PORT}").rstrip("/")
WEBHOOK_MAX_BYTES = env.int("WEBHOOK_MAX_BYTES", default=2 * 1024 * 1024)
# Seconds a request's body may take to arrive (config/slowclients.py): a slow client must not hold
# a web thread; platforms send a webhook's body in milliseconds.
HUB_REQUEST_BODY_TIMEOUT = env.float("HUB_REQUEST_BODY_TIMEOUT", default=10.0)
# Seconds a web process reuses a channel's webhook secrets (channels_app/channel_cache.py): a change
# made in another process (a secret removed, a channel deleted) takes effect within this time.
HUB_WEBHOOK_CHANNEL_CACHE_SECONDS = env.float("HUB_WEBHOOK_CHANNEL_CACHE_SECONDS", default=5.0)
SHOPIFY_API_VERSION = env.str("SHOPIFY_API_VERSION", default="2026-10")
SMS_BACKEND = env.str("SMS_BACKEND", default="local")  # local (recorded, nothing sent) | twilio
# Twilio's account, unless an organization has its own (Messaging settings in the admin).
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="https://api.twilio.com").rstrip("/")
MESSAGING_RETAIN_DAYS = env.int("MESSAGING_RETAIN_DAYS", default=90)  # messages kept; roll-ups forever
# A checkout neither completed nor changed for this long is abandoned (its automations run).
MESSAGING_CHECKOUT_ABANDONED_AFTER = env.int("MESSAGING_CHECKOUT_ABANDONED_AFTER", default=60)  # minutes
# What one SMS segment costs, for the estimate shown before a campaign goes out (an organization's
# Messaging settings may say otherwise): Twilio's list price for a US number.
MESSAGING_SEGMENT_PRICE = env.str("MESSAGING_SEGMENT_PRICE", default="0.0083")
MESSAGING_SEGMENT_CURRENCY = env.str("MESSAGING_SEGMENT_CURRENCY", default="USD")
# Country of phone numbers written without their +country code, for organizations that set none
# (django-phonenumber-field's setting, read by the hub for each new organization's messaging).
PHONENUMBER_DEFAULT_REGION = env.str("PHONENUMBER_DEFAULT_REGION", default="US")
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# Housekeeping: the sweeper and retention (seconds).
HUB_SWEEP_ENQUEUED_AFTER = env.int("HUB_SWEEP_ENQUEUED_AFTER", default=60)
HUB_EVENT_PROCESSING_TIMEOUT = env.int("HUB_EVENT_PROCESSING_TIMEOUT", default=60)
HUB_RETAIN_COMPLETED_EVENTS = env.int("HUB_RETAIN_COMPLETED_EVENTS", default=24 * 3600)
HUB_RETAIN_FAILED_EVENTS = env.int("HUB_RETAIN_FAILED_EVENTS", default=7 * 24 * 3600)
# Reconciliation polls (seconds): how often per channel, how far back the first one looks, and how
# far each one reaches back before the last one's start.
HUB_RECONCILE_INTERVAL = env.int("HUB_RECONCILE_INTERVAL", default=15 * 60)
HUB_RECONCILE_FIRST_LOOKBACK = env.int("HUB_RECONCILE_FIRST_LOOKBACK", default=24 * 3600)
HUB_RECONCILE_OVERLAP = env.int("HUB_RECONCILE_OVERLAP", default=5 * 60)

# Supplier catalogs: concurrent record downloads in the supplier step (and images in --direct),
# size limits, and how long an open run may see no job work on it before it is closed as stalled.
CATALOG_FETCH_CONCURRENCY = env.int("CATALOG_FETCH_CONCURRENCY", default=8)
CATALOG_INDEX_MAX_BYTES = env.int("CATALOG_INDEX_MAX_BYTES", default=100 * 1024 * 1024)
CATALOG_RECORD_MAX_BYTES = env.int("CATALOG_RECORD_MAX_BYTES", default=1024 * 1024)
CATALOG_IMAGE_MAX_BYTES = env.int("CATALOG_IMAGE_MAX_BYTES", default=20 * 1024 * 1024)
CATALOG_RUN_STALL_SECONDS = env.int("CATALOG_RUN_STALL_SECONDS", default=15 * 60)

# Outbound requests (platform APIs, supplier feeds and images, SMS) go only to public addresses,
# unless a network is listed here (CIDRs, comma-separated: a WooCommerce store or a supplier on the
# hub's own network). Merchants type URLs; only ops set this (channels_app/egress.py).
HUB_OUTBOUND_ALLOW_NETWORKS = env.list("HUB_OUTBOUND_ALLOW_NETWORKS", default=[])
if env.bool("CATALOG_ALLOW_PRIVATE_ADDRESSES", default=False):
    raise ImproperlyConfigured(
        "CATALOG_ALLOW_PRIVATE_ADDRESSES is gone: list the private networks the hub may reach (any "
        "outbound request, not only catalogs) in HUB_OUTBOUND_ALLOW_NETWORKS, e.g. 10.0.5.0/24."
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# The hub's own stylesheet, scripts and icon (the apps' static folders are found as well).
STATICFILES_DIRS = [BASE_DIR / "config" / "static"]
# Uploaded and fetched files (supplier catalog images), through Django's storage API: set
# STORAGES' "default" to an object store's backend (django-storages) to keep them there instead.
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# Lines for people in a terminal, JSON lines for a log collector (Docker, systemd: not a terminal).
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if sys.stderr and sys.stderr.isatty() else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT is {LOG_FORMAT!r}: json or text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "config.logs.JsonFormatter"},
        "text": {"()": "config.logs.TextFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT,
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "rq.worker": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
