"""Leadflow settings, read from the environment.

With nothing set, Leadflow runs on embedded defaults: SQLite in ``var/`` and a
Celery broker kept in files under ``var/broker`` (no server needed). Set
``DATABASE_URL`` and ``CELERY_BROKER_URL`` for PostgreSQL and Redis.
"""

import ipaddress
import os
from pathlib import Path

import dj_database_url
import django_stubs_ext

from project.env import env_bool, env_float, env_int, env_list, env_secret_key, env_str

# Lets admin and form classes be written ModelAdmin[Lead] at runtime too.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("LEADFLOW_VAR_DIR", str(BASE_DIR / "var")))

if "DATABASE_URL" not in os.environ or env_str("CELERY_BROKER_URL", "filesystem://") == "filesystem://":
    # Embedded defaults keep their SQLite file and broker messages here.
    (VAR_DIR / "broker" / "queue").mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "broker" / "processed").mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "broker" / "control").mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", False)
# Signed links (clicks, open pixels, unsubscribes) and sessions are only as safe as this
# key: with DEBUG off, a missing key or the published development key stops every process
# (web, worker, beat, manage.py) here, saying what to set. bin/run keeps one in the var folder.
SECRET_KEY = env_secret_key("DJANGO_SECRET_KEY", debug=DEBUG)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
# Error pages and emails hide values holding a URL with credentials (DATABASE_URL,
# CELERY_BROKER_URL, …), not only settings named like a secret.
DEFAULT_EXCEPTION_REPORTER_FILTER = "project.debug.CredentialsFilter"
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served by Leadflow itself, not a CDN
    "scoring",
    "nurture",
    "routing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # JSON bodies of the API, Segment and page-beacon doors are checked (size, depth,
    # lone surrogates) before any key is looked up or view runs: bad input costs little.
    "scoring.bodies.JsonBodyGuard",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"

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

WSGI_APPLICATION = "project.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'leadflow.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat share one SQLite file: wait for the
    # write lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("LEADFLOW_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "sales:queue"

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
# Seconds to wait for the broker to connect or answer before giving up; workers wait
# 1 s for new tasks at a time, so keep it above that.
LEADFLOW_BROKER_TIMEOUT_SECONDS = env_float("LEADFLOW_BROKER_TIMEOUT_SECONDS", 2.0)
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # A dead broker costs a request one short connection attempt, not seconds: the
    # request path has a fallback (the minute sweep scores what was stored), so a
    # publish tries once (no retries below either) and gives up. The socket timeout
    # bounds a broker that accepts connections but does not answer.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "max_retries": 0,
        "socket_connect_timeout": LEADFLOW_BROKER_TIMEOUT_SECONDS,
        "socket_timeout": LEADFLOW_BROKER_TIMEOUT_SECONDS,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = LEADFLOW_BROKER_TIMEOUT_SECONDS
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "leadflow")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# --- API ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["scoring.api_keys.BearerKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Leadflow API",
    "DESCRIPTION": "Send leads and interactions to Leadflow; read scores and why.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}
# Largest request body the API accepts (bytes) and events per batch.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("LEADFLOW_MAX_BODY_BYTES", 5 * 1024 * 1024)
LEADFLOW_MAX_BATCH_EVENTS = 1000

# Sites whose pages may send page views to /t/p with fetch (CORS); sendBeacon needs none.
LEADFLOW_TRACKING_ORIGINS = env_list("LEADFLOW_TRACKING_ORIGINS", [])

# --- Scoring ------------------------------------------------------------------
# How many unscored interactions one worker claims per transaction.
LEADFLOW_SCORING_BATCH_SIZE = env_int("LEADFLOW_SCORING_BATCH_SIZE", 2000)
# Database sessions the nightly decay uses at once on PostgreSQL (disjoint chunks of leads).
LEADFLOW_DECAY_JOBS = env_int("LEADFLOW_DECAY_JOBS", 2)
# Workers (Celery tasks, or processes of manage.py scoring_rescore) sharing a rescore job.
LEADFLOW_RESCORE_JOBS = env_int("LEADFLOW_RESCORE_JOBS", 2)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LEADFLOW_LOG_LEVEL", "INFO")},
}

# --- Nurture ---
# Links in emails (tracking, unsubscribe) start with this public address of Leadflow.
LEADFLOW_PUBLIC_URL = env_str("LEADFLOW_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Email: SMTP when EMAIL_HOST is set; otherwise each message is written to a file in var/mail/.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)  # seconds; a stuck server must not hold a batch for ever
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Leadflow <nurture@localhost>")
# Enrollments one sender claims per transaction (queries per batch do not grow with it).
LEADFLOW_NURTURE_BATCH_SIZE = env_int("LEADFLOW_NURTURE_BATCH_SIZE", 500)
# A claimed batch is its sender's for this long; a delivery still pending after it is
# "unknown" (the sender died mid-send) and is not sent again.
LEADFLOW_NURTURE_LEASE_MINUTES = env_int("LEADFLOW_NURTURE_LEASE_MINUTES", 15)
# Temporary failures are retried after 5, 10, 20… minutes (at most 6 hours), 8 attempts in all.
LEADFLOW_NURTURE_RETRY_MINUTES = env_int("LEADFLOW_NURTURE_RETRY_MINUTES", 5)
LEADFLOW_NURTURE_RETRY_MAX_MINUTES = env_int("LEADFLOW_NURTURE_RETRY_MAX_MINUTES", 360)
LEADFLOW_NURTURE_MAX_ATTEMPTS = env_int("LEADFLOW_NURTURE_MAX_ATTEMPTS", 8)

# --- Routing ---
# Webhook calls: timeout per call; retries after 30 s, 60 s, 120 s… (at most an hour), 8 attempts in all.
LEADFLOW_WEBHOOK_TIMEOUT_SECONDS = env_int("LEADFLOW_WEBHOOK_TIMEOUT_SECONDS", 10)
LEADFLOW_WEBHOOK_RETRY_SECONDS = env_int("LEADFLOW_WEBHOOK_RETRY_SECONDS", 30)
LEADFLOW_WEBHOOK_RETRY_MAX_SECONDS = env_int("LEADFLOW_WEBHOOK_RETRY_MAX_SECONDS", 3600)
LEADFLOW_WEBHOOK_MAX_ATTEMPTS = env_int("LEADFLOW_WEBHOOK_MAX_ATTEMPTS", 8)
# A webhook call ends within this many seconds in all (look-up, connect, send, wait, read),
# however the receiver dribbles its answer; the sender's lease is computed to outlast it.
LEADFLOW_WEBHOOK_DEADLINE_SECONDS = env_int("LEADFLOW_WEBHOOK_DEADLINE_SECONDS", 20)
# Webhooks never call loopback, private, link-local, multicast or reserved addresses (the
# worker sits next to Redis, PostgreSQL and the admin), except in these networks, for an
# on-premise CRM: comma-separated CIDRs, e.g. "10.0.5.0/24,127.0.0.1/32". Checked here, so a
# typo stops the start with its name instead of silently allowing nothing.
LEADFLOW_WEBHOOK_ALLOWED_NETWORKS = env_list("LEADFLOW_WEBHOOK_ALLOWED_NETWORKS", [])
for _network in LEADFLOW_WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network)
    except ValueError as _error:
        raise ValueError(f"LEADFLOW_WEBHOOK_ALLOWED_NETWORKS: {_error} (give networks such as 10.0.5.0/24)") from None
