"""Leadflow settings, read from the environment.

With nothing set, Leadflow runs on embedded defaults: SQLite in ``var/`` and a
Celery broker kept in files under ``var/broker`` (no server needed). Set
``DATABASE_URL`` and ``CELERY_BROKER_URL`` for PostgreSQL and Redis.
"""

import ipaddress
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from project.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_secret_key,
    env_secret_key_fallbacks,
    env_str,
)

# Lets admin and form classes be written ModelAdmin[Lead] at runtime too.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("LEADFLOW_VAR_DIR", str(BASE_DIR / "var")))

if not env_str("DATABASE_URL", "") or env_str("CELERY_BROKER_URL", "filesystem://") == "filesystem://":
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

# --- HTTPS -------------------------------------------------------------------------
# With DEBUG off Leadflow speaks HTTPS only: plain HTTP is redirected, browsers are told
# to keep to HTTPS (HSTS, a year by default) and the session and CSRF cookies never
# travel in clear. LEADFLOW_HTTPS_ONLY=false turns all of it off: for an installation
# where something in front does it instead, or one on a private network without TLS.
LEADFLOW_HTTPS_ONLY = env_bool("LEADFLOW_HTTPS_ONLY", not DEBUG)
SECURE_SSL_REDIRECT = LEADFLOW_HTTPS_ONLY
SESSION_COOKIE_SECURE = LEADFLOW_HTTPS_ONLY
CSRF_COOKIE_SECURE = LEADFLOW_HTTPS_ONLY
SECURE_HSTS_SECONDS = env_int("LEADFLOW_HSTS_SECONDS", 365 * 24 * 3600) if LEADFLOW_HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
# Behind a proxy that terminates TLS, every request reaches Leadflow as plain HTTP and
# the redirect would loop. A proxy that says which requests came over HTTPS, by setting
# X-Forwarded-Proto itself (never passing on the client's own), is believed when
# LEADFLOW_TRUST_X_FORWARDED_PROTO is true.
if env_bool("LEADFLOW_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Content-Security-Policy (django-csp) --------------------------------------------
# Leadflow's pages run only its own script files (and the API docs' one inline script,
# by nonce), so injected markup cannot run code. Inline styles are allowed: the admin,
# the email previews (emails carry their styles inline) and the API docs use them, and
# a style runs no code. Images may come from any HTTPS site, as emails' images do. The
# tracking endpoints answer other sites' pages with a script, an image or a redirect,
# which a policy does not restrict.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "https:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Login throttling (django-axes) --------------------------------------------------
# After LEADFLOW_LOGIN_FAILURE_LIMIT failed logins for one user name from one address,
# that pair is refused for LEADFLOW_LOGIN_COOLOFF_MINUTES (a try meanwhile starts the
# wait again), on the admin's login and the sales queue's alike. Counting the pair, not
# the name alone, means nobody can lock a colleague out from elsewhere.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LEADFLOW_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LEADFLOW_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "project.auth.lockout_response"
# The address a login is counted by is the one tracking's per-address limits count: behind
# LEADFLOW_TRUSTED_PROXY_COUNT proxies the client's (not the proxy's, which would lock out
# everyone with a guesser), never what the client wrote into X-Forwarded-For, and an IPv6
# client by its /64, which it could otherwise walk through a try or five at a time.
AXES_CLIENT_IP_CALLABLE = "intake.tracking.client_network"
AXES_VERBOSE = False  # no banner at every start of every command

INSTALLED_APPS = [
    "project.apps.LeadflowAdminConfig",  # django.contrib.admin with project/admin_site.py
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served by Leadflow itself, not a CDN
    "django_ratelimit",  # its system checks say when the cache cannot hold rate-limit counts
    "csp",  # its system checks catch settings of django-csp 3 it would ignore
    "axes",  # login throttling: AXES_ above
    "scoring",
    "intake",
    "nurture",
    "routing",
    "reports",
    "people",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # JSON bodies of the API, Segment and page-beacon doors are checked (size, depth,
    # lone surrogates) before any key is looked up or view runs: bad input costs little.
    # A query parameter holding NUL is refused on every page (PostgreSQL cannot compare it).
    "intake.bodies.JsonBodyGuard",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's language (Accept-Language) or the switcher's cookie…
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # …unless the person signed in chose one.
    "people.languages.PreferredLanguage",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # An address with too many failed logins, whatever the names tried, is paused.
    "project.auth.LoginSprayGuard",
    # Last: it turns a refused login (AXES_ above) into the page that says why.
    "axes.middleware.AxesMiddleware",
    # A database busy for a moment (a lock, a deadlock lost) answers 503 and Retry-After, not 500.
    "intake.errors.DatabaseBusy",
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
    # And take it when a transaction begins (BEGIN IMMEDIATE): a transaction that read
    # first and wrote second while another process wrote was refused at once ("database
    # is locked"), without waiting.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

# --- A read replica for the reports ------------------------------------------------
# With LEADFLOW_REPORTS_DATABASE_URL (a replica of DATABASE_URL's database, e.g. a
# PostgreSQL hot standby), the overview, the report pages, their CSV and the predictive
# page read from it; everything that writes (scoring, the nightly roll-ups, any write a
# report page makes) stays on DATABASE_URL. Unset, there is one database and nothing routes.
LEADFLOW_REPORTS_DATABASE: str | None = None
DATABASE_ROUTERS: list[str] = []
_reports_url = env_str("LEADFLOW_REPORTS_DATABASE_URL", "")
if _reports_url:
    try:
        _reports_database = dj_database_url.parse(_reports_url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0))
    except ValueError as _error:  # the URL itself stays out of the message: it may hold a password
        raise ImproperlyConfigured(
            f"LEADFLOW_REPORTS_DATABASE_URL is not a database URL ({type(_error).__name__}): "
            "give one such as postgres://user:password@replica-host:5432/leadflow"
        ) from None
    if _reports_database["ENGINE"] != DATABASES["default"]["ENGINE"] or not _reports_database.get("NAME"):
        raise ImproperlyConfigured(
            "LEADFLOW_REPORTS_DATABASE_URL must name a replica of DATABASE_URL's database: the same kind "
            f"of database ({DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}) with a database name"
        )
    # A replica holds what the primary holds, so tests use the primary's test database
    # through it rather than make one of their own; nothing is ever migrated on it.
    _reports_database["TEST"] = {"MIRROR": "default"}
    DATABASES["reports"] = _reports_database
    LEADFLOW_REPORTS_DATABASE = "reports"
    DATABASE_ROUTERS = ["reports.replica.ReportsReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The site's language: what a browser that asks for neither gets, and what emails to
# leads use when the lead has no language of its own.
LANGUAGE_CODE = env_str("LEADFLOW_LANGUAGE", "en")
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# How each language writes numbers and dates (Leadflow's changes to Django's own).
# Figures a person reads go through scoring.localized, which groups thousands; the
# thousands separator stays off for every other number a template writes (ids in links
# and forms, page numbers), so those never read "1.234".
FORMAT_MODULE_PATH = ["project.formats"]
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"LEADFLOW_LANGUAGE: {LANGUAGE_CODE!r} is not one of {', '.join(dict(LANGUAGES))}")
TIME_ZONE = env_str("LEADFLOW_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

LOGIN_URL = "login"
# Each to their first page: the overview, the sales queue or the admin (project.urls.home).
LOGIN_REDIRECT_URL = "home"

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
    "DEFAULT_AUTHENTICATION_CLASSES": ["intake.api_keys.BearerKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    # Every refusal carries stable codes beside its English text (intake.errors).
    "EXCEPTION_HANDLER": "intake.errors.api_exception_handler",
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
# The custom attributes' names keys used in web pages may bring to Leadflow, site-wide:
# past them such a key writes only names already known (recorded by a trusted writer,
# or tested by a rule), so made-up names cannot give the leads' export a column each.
LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES = max(env_int("LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES", 20), 0)

# --- Anonymous sources: rate limits and the cache that counts them ----------------
# The public tracking endpoints (forms, page beacon, open pixel, click) are limited per
# client address and per lead or visitor, so nobody can buy a lead a score by posting.
# The counts live in the cache, which every web process must share: Redis at
# LEADFLOW_CACHE_URL, else the broker's Redis. Without Redis (a first run) they stay in
# the memory of the one web process `bin/run` starts.
_BROKER_IS_REDIS = CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
LEADFLOW_CACHE_URL = env_str("LEADFLOW_CACHE_URL", CELERY_BROKER_URL if _BROKER_IS_REDIS else "locmem://")
if LEADFLOW_CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": LEADFLOW_CACHE_URL,
            "KEY_PREFIX": "leadflow",
            # A Redis that does not answer costs a request half a second, not a hang.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    # Django's own Redis cache increments atomically (INCR); django-ratelimit only
    # knows django-redis's by name.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
elif LEADFLOW_CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Shared by the threads of the one web process of a first run, which is enough there.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]
else:
    raise ValueError(f"LEADFLOW_CACHE_URL={LEADFLOW_CACHE_URL!r} must be redis://…, rediss://…, unix://… or locmem://")
# If the cache fails, tracking goes on unlimited (and logs it) rather than losing data.
RATELIMIT_FAIL_OPEN = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The ledgers' and the reports' indexes carry columns for PostgreSQL to read from the
    # index alone (INCLUDE); SQLite has no such indexes and builds them on their key columns,
    # which is all a first run's small tables need: its warning on every start said nothing
    # a user could act on. PostgreSQL's migrations still build them with INCLUDE.
    SILENCED_SYSTEM_CHECKS.append("models.W040")
# Reverse proxies in front of Leadflow that append the client's address to
# X-Forwarded-For; 0 counts by the connection's own address.
LEADFLOW_TRUSTED_PROXY_COUNT = env_int("LEADFLOW_TRUSTED_PROXY_COUNT", 0)
RATELIMIT_IP_META_KEY = "intake.tracking.client_ip"


# Rates as django-ratelimit writes them ("30/m", "300/h", "10/d", "100/15m"), comma-separated
# to combine windows; "off" for none. Per address they leave room for an office behind
# one address and for mail providers' image proxies and link scanners; per lead they
# allow what one person does, not a flood.
def _rates(name: str, default: list[str]) -> list[str]:
    rates = env_list(name, default)
    if rates == ["off"]:
        return []
    for rate in rates:
        if not re.fullmatch(r"[1-9][0-9]*/([1-9][0-9]*)?[smhd]", rate):
            raise ValueError(f"{name}={rate!r} is not a rate such as 30/m, 300/h, 10/d or 100/15m (or off)")
    return rates


LEADFLOW_RATE_LIMITS = {
    "form": {
        "ip": _rates("LEADFLOW_RATE_FORM_IP", ["30/m", "300/h"]),
        "lead": _rates("LEADFLOW_RATE_FORM_LEAD", ["5/h", "10/d"]),
    },
    "page": {
        "ip": _rates("LEADFLOW_RATE_PAGE_IP", ["300/m"]),
        "visitor": _rates("LEADFLOW_RATE_PAGE_VISITOR", ["30/m", "500/d"]),
    },
    "open": {
        "ip": _rates("LEADFLOW_RATE_OPEN_IP", ["1200/m"]),
        "lead": _rates("LEADFLOW_RATE_OPEN_LEAD", ["30/h", "100/d"]),
    },
    "click": {
        "ip": _rates("LEADFLOW_RATE_CLICK_IP", ["600/m"]),
        "lead": _rates("LEADFLOW_RATE_CLICK_LEAD", ["30/h", "100/d"]),
    },
    # The Segment and RudderStack doors, for a key used in web pages (ApiKey.public): its
    # messages per address, and per lead (by email, or else external id, as checked).
    "browser": {
        "ip": _rates("LEADFLOW_RATE_BROWSER_IP", ["1200/m"]),
        "lead": _rates("LEADFLOW_RATE_BROWSER_LEAD", ["120/h", "500/d"]),
    },
    # Failed logins per address, whatever the user names tried (AXES_ counts each name
    # apart): one address trying a password on many names is paused.
    "login": {"ip": _rates("LEADFLOW_RATE_LOGIN_FAILURES_IP", ["30/h"])},
    # The "forgotten your password" form: each post emails the address it names.
    "password_reset": {
        "ip": _rates("LEADFLOW_RATE_PASSWORD_RESET_IP", ["10/h"]),
        "email": _rates("LEADFLOW_RATE_PASSWORD_RESET_EMAIL", ["3/h", "5/d"]),
    },
}

# --- Scoring ------------------------------------------------------------------
# How many unscored interactions one worker claims per transaction.
LEADFLOW_SCORING_BATCH_SIZE = env_int("LEADFLOW_SCORING_BATCH_SIZE", 2000)
# Database sessions the nightly decay uses at once on PostgreSQL (disjoint chunks of leads).
LEADFLOW_DECAY_JOBS = env_int("LEADFLOW_DECAY_JOBS", 2)
# Workers (Celery tasks, or processes of manage.py scoring_rescore) sharing a rescore job.
LEADFLOW_RESCORE_JOBS = env_int("LEADFLOW_RESCORE_JOBS", 2)
# Processes a replay (what-if) splits its leads over, on PostgreSQL.
LEADFLOW_REPLAY_PROCESSES = env_int("LEADFLOW_REPLAY_PROCESSES", 2)
# Retention, in months (0: off, keep everything). Each night, raw interactions and ledger
# rows older than this many whole months go: per-lead monthly counts of the interactions
# and an opening balance per lead and dimension of the ledger's rows are kept instead.
# Keep it longer than every rule's cap window. On PostgreSQL a month goes a partition at a time.
LEADFLOW_RETENTION_MONTHS = env_int("LEADFLOW_RETENTION_MONTHS", 0)
if LEADFLOW_RETENTION_MONTHS < 0:
    raise ValueError("LEADFLOW_RETENTION_MONTHS must be 0 (off) or a number of months")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Write keys sent in a query string (RudderStack's beacon and source config) stay out of the logs.
    "filters": {"redact_write_keys": {"()": "project.logs.RedactWriteKeys"}},
    "formatters": {
        # Django's own format for the development server's access log.
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"}
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_write_keys"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_write_keys"],
        },
    },
    "loggers": {"django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False}},
    "root": {"handlers": ["console"], "level": env_str("LEADFLOW_LOG_LEVEL", "INFO")},
}

# --- Nurture ---
# The port bin/run's web server listens on (read here too, for the default public address).
LEADFLOW_PORT = env_int("LEADFLOW_PORT", 8000)
if not 1 <= LEADFLOW_PORT <= 65535:
    raise ValueError(f"LEADFLOW_PORT={LEADFLOW_PORT} is not a port (1 to 65535)")
# Links in emails (tracking, unsubscribe, invitations) start with this public address of
# Leadflow. Unset (or empty), it is where bin/run serves: its port follows LEADFLOW_PORT,
# so a first run on another port does not mail links to a port nothing listens on.
LEADFLOW_PUBLIC_URL = (env_str("LEADFLOW_PUBLIC_URL", "") or f"http://127.0.0.1:{LEADFLOW_PORT}").rstrip("/")
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
# A batch of notifications is its sender's for this long; one still being sent after it
# is "unknown" (the sender stopped between sending and confirming) and is not sent again.
LEADFLOW_NOTIFICATION_LEASE_MINUTES = env_int("LEADFLOW_NOTIFICATION_LEASE_MINUTES", 15)
if LEADFLOW_NOTIFICATION_LEASE_MINUTES < 1:
    raise ValueError("LEADFLOW_NOTIFICATION_LEASE_MINUTES must be 1 or more (minutes a sender holds its batch)")
# Webhook calls: timeout per call; retries after 30 s, 60 s, 120 s… (at most an hour), 8 attempts in all.
LEADFLOW_WEBHOOK_TIMEOUT_SECONDS = env_int("LEADFLOW_WEBHOOK_TIMEOUT_SECONDS", 10)
LEADFLOW_WEBHOOK_RETRY_SECONDS = env_int("LEADFLOW_WEBHOOK_RETRY_SECONDS", 30)
LEADFLOW_WEBHOOK_RETRY_MAX_SECONDS = env_int("LEADFLOW_WEBHOOK_RETRY_MAX_SECONDS", 3600)
LEADFLOW_WEBHOOK_MAX_ATTEMPTS = env_int("LEADFLOW_WEBHOOK_MAX_ATTEMPTS", 8)
# A webhook call ends within this many seconds in all (look-up, connect, send, wait, read),
# however the receiver dribbles its answer; the sender's lease is computed to outlast it.
LEADFLOW_WEBHOOK_DEADLINE_SECONDS = env_int("LEADFLOW_WEBHOOK_DEADLINE_SECONDS", 20)
if LEADFLOW_WEBHOOK_DEADLINE_SECONDS < 1:
    raise ValueError("LEADFLOW_WEBHOOK_DEADLINE_SECONDS must be 1 or more (seconds a webhook call may take in all)")
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
# Keys SECRET_KEY had before a rotation (comma-separated): what was signed or encrypted with
# them (sessions, signed links, webhook secrets) still reads, while new things use the new key.
# With DEBUG off the published development key is refused here too, as SECRET_KEY is.
SECRET_KEY_FALLBACKS = env_secret_key_fallbacks("DJANGO_SECRET_KEY_FALLBACKS", debug=DEBUG)
