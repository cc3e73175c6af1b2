"""One environment-driven settings module.

Defaults are the embedded ones (SQLite, a filesystem Celery broker), so a fresh checkout runs with no
services. ``DJANGO_ENV=production`` turns on the hardened mode that ``check --deploy`` accepts.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"

# A development-only default; production refuses to start without a real one.
_DEV_SECRET_KEY = "dev-insecure-6c2b0e2f8f7a4b61a8d1c7b3e5f90d12-not-for-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY") if PRODUCTION else env.str("SECRET_KEY", default=_DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",
    "django_htmx",
    "template_partials",
    "django_ratelimit",
    "axes",
    "finetune_portal.core",
    "finetune_portal.accounts",
    "finetune_portal.projects",
    "finetune_portal.datasets",
    "finetune_portal.jobs",
    "finetune_portal.registry",
    "finetune_portal.credentials",
    "finetune_portal.inference",
    "finetune_portal.notifications",
    "finetune_portal.playground",
    "finetune_portal.exits",
    "finetune_portal.evaluations",
    "finetune_portal.captures",
    "finetune_portal.api",
    "finetune_portal.sweeps",
    "finetune_portal.providers.openai",
    "finetune_portal.providers.peft",
]

# The fine-tuning providers offered, in the order pages list them; the first is the default. A provider
# is a package (usually also in INSTALLED_APPS for its models and tasks) with one provider class.
FINETUNE_PROVIDERS = [
    "finetune_portal.providers.openai.provider.OpenAIProvider",
    "finetune_portal.providers.peft.provider.PeftProvider",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # /v1 (token auth, JSON) leaves the stack here: it needs none of the page middleware below.
    "finetune_portal.api.middleware.ApiPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "finetune_portal.core.middleware.PortalNotFoundMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "finetune_portal.urls"
WSGI_APPLICATION = "finetune_portal.wsgi.application"
ASGI_APPLICATION = "finetune_portal.asgi.application"

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
                "finetune_portal.core.context_processors.portal",
            ],
        },
    },
]


def _redis_url_of_test_process(url: str) -> str:
    """``url`` itself, or under pytest-xdist the Redis database of this test process: the configured
    number plus the worker's (gw0 keeps it, gw1 adds 1, ...).

    Parallel test processes each run their own Celery workers and purge their queues, so on one database
    they would take and delete each other's tasks. pytest-xdist names the worker in PYTEST_XDIST_WORKER
    before it loads these settings; a process a test starts inherits it and the same URL, so it picks the
    same database.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url.startswith(("redis://", "rediss://")) or not worker.startswith("gw"):
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    db = base + int(worker.removeprefix("gw"))
    if db > 15:
        raise ImproperlyConfigured(
            f"Test worker {worker} would use Redis database {db} of {url}; Redis has 16 (0-15). "
            "Run fewer workers or start from a lower database number."
        )
    return parts._replace(path=f"/{db}").geturl()


# Local memory unless CACHE_URL names a shared cache (e.g. redis://redis:6379/1 in production).
CACHES = {
    "default": env.cache_url_config(
        _redis_url_of_test_process(env.str("CACHE_URL", default="locmemcache://"))
    )
}
# The inference rate limit (inference/limits.py, django-ratelimit) counts in this cache with atomic
# increments. Its system check only knows memcached and django-redis: Django's own Redis cache increments
# with INCR (atomic) too, and local memory is atomic within the one process a development server or a
# test run has (a production with several web processes sets CACHE_URL). Any other backend (database,
# files, dummy) still fails the check, because its counts would be wrong.
_CACHE_BACKEND = CACHES["default"]["BACKEND"]
SILENCED_SYSTEM_CHECKS = {
    "django.core.cache.backends.redis.RedisCache": ["django_ratelimit.W001"],
    "django.core.cache.backends.locmem.LocMemCache": ["django_ratelimit.E003", "django_ratelimit.W001"],
}.get(_CACHE_BACKEND, [])
# Chat answers a project may start, per django-ratelimit rate ("60/m", "500/h").
INFERENCE_RATE_LIMIT = env.str("INFERENCE_RATE_LIMIT", default="60/m")
# Largest request body /v1 reads (a long conversation is a few hundred KB; larger answers 413).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=4 * 1024 * 1024)
# The provider that trains what /v1/fine_tuning/jobs is asked for: the team's own GPUs.
API_FINE_TUNING_PROVIDER = env("API_FINE_TUNING_PROVIDER", default="local_peft")
# Uploads to /v1/files up to this size are validated during the request, as OpenAI's come back processed.
API_FILE_INLINE_VALIDATION_BYTES = env.int("API_FILE_INLINE_VALIDATION_BYTES", default=32 * 1024 * 1024)
# Live pages poll every few seconds; reading the session from the cache saves a query per poll.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# Forms render their layouts through the normal template loaders, so a form's template_name may live
# in templates/ like every other template.
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
# Under ASGI each request runs its sync code in a thread of its own, so a connection kept past the request
# (CONN_MAX_AGE > 0) is stranded with that thread. On PostgreSQL, DATABASE_POOL=1 gives each process a
# psycopg pool instead: connections go back to it after each request.
if env.bool("DATABASE_POOL", default=False) and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_SIZE", default=10),
        "timeout": 10,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let web, worker and beat share one SQLite file without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # Tests that run a real Celery worker thread write from several threads at once. SQLite's default
    # in-memory test database (shared cache) answers "table is locked" at once; a file in WAL mode waits.
    # One file per test process, removed by the test runner at the end.
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME", str(Path(tempfile.gettempdir()) / f"finetune_portal-test-{os.getpid()}.sqlite3")
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Content-Security-Policy (django-csp): scripts and styles only from the portal's own static files, no
# inline script or style, nothing from other sites. Page scripts live in static/js (data reaches them as
# JSON script elements, which are not run). Styles need no 'unsafe-inline' either: no template has a style
# attribute (colours set from data go through the DOM, which the policy allows), and htmx is told not to
# inject its indicator <style> (base.html's htmx-config). Images also from data: URIs (Pico's icons).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from one
# address, that pair is refused, even with the right password, for AXES_COOLOFF_MINUTES. Another user, or
# the same user elsewhere, is not locked out. A site admin unlocks early in the Django admin (Axes,
# Access attempts: delete the rows). The axes backend must come first: it refuses before any check.
AUTHENTICATION_BACKENDS = [
    "finetune_portal.core.auth_backends.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
# Behind a reverse proxy, the client's address is the last one it adds to X-Forwarded-For.
if env.int("AXES_PROXY_COUNT", default=0):
    AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT")
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]

LOGIN_URL = "accounts:login"
# Password reset and "set your password" links, and invitation links, stop working after this long.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)
INVITATION_MAX_AGE_SECONDS = env.int("INVITATION_MAX_AGE_SECONDS", default=7 * 24 * 3600)
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
MEDIA_URL = "media/"
# Dataset versions, adapters and checkpoints. A folder (MEDIA_ROOT) serves one host; with S3_BUCKET set
# they go to an S3-compatible bucket (AWS, MinIO, R2...), so GPU workers on other hosts share them.
# Credentials come from the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables.
S3_BUCKET = env.str("S3_BUCKET", default="")
if S3_BUCKET:
    DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env.str("S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("S3_REGION", default="") or None,
            "location": env.str("S3_PREFIX", default=""),
            # Private objects; downloads go through the portal, which checks the user's project first.
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    DEFAULT_STORAGE = {
        "BACKEND": env.str("DEFAULT_FILE_STORAGE", default="django.core.files.storage.FileSystemStorage")
    }
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": (
            "finetune_portal.core.staticfiles.ModuleAwareStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Uploads stream to a temporary file instead of memory past this size.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATASET_MAX_UPLOAD_BYTES = env.int("DATASET_MAX_UPLOAD_BYTES", default=2 * 1024**3)
# Processes one dataset validation may use (the validator splits the file into byte ranges).
DATASET_VALIDATION_WORKERS = env.int("DATASET_VALIDATION_WORKERS", default=1)

# Secrets at rest: a comma-separated list of Fernet keys, newest first. Older keys only decrypt,
# so rotation is "prepend a new key, run rotate_encryption_keys, then drop the old key".
_DEV_FIELD_KEY = "v7uJUaM_XDlFkuvtTtbIpiYGxvs7v5qf2QjDCX2D3Bw="
FIELD_ENCRYPTION_KEYS = (
    env.list("FIELD_ENCRYPTION_KEYS")
    if PRODUCTION
    else env.list("FIELD_ENCRYPTION_KEYS", default=[_DEV_FIELD_KEY])
)

# E-mail (invitations, password resets, job notifications) through Django's mail framework. EMAIL_URL is
# django-environ's form, e.g. smtp+tls://user:password@smtp.example.com:587; unset prints mails to the
# console, which is what `make run` shows.
_email = env.email_url("EMAIL_URL", default="consolemail://")
globals().update({name: value for name, value in _email.items() if value not in (None, "")})
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="finetune_portal <portal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# A mail server that stops answering must not hold a request or a worker without end.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# The address links in e-mails point at (mails sent by workers have no request to take it from).
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000")
# Seconds a job-notification webhook may take to answer.
NOTIFICATION_WEBHOOK_TIMEOUT = env.float("NOTIFICATION_WEBHOOK_TIMEOUT", default=10.0)
# Post to webhooks on this machine (127.0.0.1, localhost): off, so a project admin cannot reach services
# listening on loopback; link-local and reserved addresses are always refused, private ranges allowed.
NOTIFICATION_WEBHOOK_ALLOW_LOOPBACK = env.bool("NOTIFICATION_WEBHOOK_ALLOW_LOOPBACK", default=False)
# A notification left "sending" this long was claimed by a worker that died; it is sent again.
NOTIFICATION_SENDING_STALE_SECONDS = env.int("NOTIFICATION_SENDING_STALE_SECONDS", default=900)

# Celery: Redis when REDIS_URL is set, otherwise a filesystem broker that needs no server.
_REDIS_URL_GIVEN = env.str("REDIS_URL", default="")
REDIS_URL = _redis_url_of_test_process(_REDIS_URL_GIVEN)
CELERY_BROKER_URL = _redis_url_of_test_process(
    env.str("CELERY_BROKER_URL", default=_REDIS_URL_GIVEN or "filesystem://")
)
CELERY_RESULT_BACKEND = _redis_url_of_test_process(
    env.str("CELERY_RESULT_BACKEND", default=_REDIS_URL_GIVEN or f"file://{VAR_DIR / 'celery' / 'results'}")
)
LIVE_REDIS_URL = _redis_url_of_test_process(env.str("LIVE_REDIS_URL", default=_REDIS_URL_GIVEN))
CELERY_FILESYSTEM_DIR = VAR_DIR / "celery" / "broker"
CELERY_BEAT_SCHEDULE_FILE = VAR_DIR / "celery" / "beat-schedule"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# Local GPU provider (the gpu-queue worker). Demo models and converted checkpoints are cached here;
# Hugging Face downloads use huggingface_hub's own cache (HF_HOME).
# Folders on the GPU workers that jobs may load a local base model from ("local:/path"), comma-separated;
# besides these, only the project's own outputs. Empty: no local folders.
PEFT_LOCAL_MODEL_DIRS = env.list("PEFT_LOCAL_MODEL_DIRS", default=[])
PEFT_MODEL_CACHE = env.path("PEFT_MODEL_CACHE", default=VAR_DIR / "peft" / "models")
PEFT_WORK_DIR = env.path("PEFT_WORK_DIR", default=VAR_DIR / "peft" / "runs")
PEFT_HEARTBEAT_SECONDS = env.float("PEFT_HEARTBEAT_SECONDS", default=30.0)
# A training job whose worker has been silent this long is marked failed by the reaper.
PEFT_STALE_AFTER_SECONDS = env.float("PEFT_STALE_AFTER_SECONDS", default=600.0)
# A queued job is sent to the gpu queue again when its message has been missing from it this long.
PEFT_START_LOST_AFTER_SECONDS = env.float("PEFT_START_LOST_AFTER_SECONDS", default=300.0)
# On a worker without CUDA, run what normally needs GPUs on the CPU instead of refusing: N processes
# for N GPUs, QLoRA through bitsandbytes' CPU kernels. Slow; for trying those paths on any machine.
PEFT_CPU_STANDS_IN_FOR_GPU = env.bool("PEFT_CPU_STANDS_IN_FOR_GPU", default=False)
PEFT_TRAINING_TIME_LIMIT_SECONDS = env.int("PEFT_TRAINING_TIME_LIMIT_SECONDS", default=48 * 3600)
# Serving the local provider's models. The portal's client talks to vLLM when VLLM_BASE_URL is set
# (e.g. http://vllm:8000/v1), else to the embedded model server (`python manage.py serve_models`) at
# LOCAL_INFERENCE_URL. That server keeps at most INFERENCE_MAX_LOADED_MODELS models warm, and evicts the
# least recently used beyond INFERENCE_MAX_LOADED_BYTES of weights (0: no byte bound). Adapters kept in S3
# are downloaded to INFERENCE_ADAPTER_CACHE, a folder the model server must see at the same path.
LOCAL_INFERENCE_URL = env.str("LOCAL_INFERENCE_URL", default="http://127.0.0.1:8766/v1")
VLLM_BASE_URL = env.str("VLLM_BASE_URL", default="")
VLLM_API_KEY = env.str("VLLM_API_KEY", default="")
INFERENCE_TIMEOUT_SECONDS = env.float("INFERENCE_TIMEOUT_SECONDS", default=120.0)
INFERENCE_ADAPTER_CACHE = env.path("INFERENCE_ADAPTER_CACHE", default=VAR_DIR / "peft" / "serving")
INFERENCE_MAX_LOADED_MODELS = env.int("INFERENCE_MAX_LOADED_MODELS", default=2)
INFERENCE_MAX_LOADED_BYTES = env.int("INFERENCE_MAX_LOADED_BYTES", default=16 * 1024**3)
INFERENCE_DEFAULT_MAX_TOKENS = env.int("INFERENCE_DEFAULT_MAX_TOKENS", default=512)
# The embedded server joins the pieces a model makes within this many ms of the last one it sent (only a
# model faster than ~65 tokens/s notices); 0 sends every token as its own event.
INFERENCE_STREAM_INTERVAL_MS = env.float("INFERENCE_STREAM_INTERVAL_MS", default=15.0)
# OpenAI provider: seconds before one API call gives up, and the tag (in each job's metadata) that tells
# this portal's jobs apart on a shared account. Empty derives it from SECRET_KEY; set it to keep it
# stable across a key rotation.
OPENAI_REQUEST_TIMEOUT = env.float("OPENAI_REQUEST_TIMEOUT", default=60.0)
OPENAI_PORTAL_INSTANCE = env.str("OPENAI_PORTAL_INSTANCE", default="")

# The demo admin that `make run` ensures exists on a fresh install.
DEMO_ADMIN_USERNAME = env.str("DEMO_ADMIN_USERNAME", default="admin")
DEMO_ADMIN_PASSWORD = env.str("DEMO_ADMIN_PASSWORD", default="")
DEMO_ADMIN_EMAIL = env.str("DEMO_ADMIN_EMAIL", default="admin@example.com")
# Where `ensure_demo_admin --for-banner` leaves a new password (0600) until `start_banner` prints it.
DEMO_ADMIN_PASSWORD_FILE = env.path("DEMO_ADMIN_PASSWORD_FILE", default=VAR_DIR / "demo-admin-password")

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# Secrets marked with sensitive_variables / sensitive_post_parameters stay hidden even on the debug page.
DEFAULT_EXCEPTION_REPORTER_FILTER = "finetune_portal.core.error_reporting.AlwaysSafeExceptionReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {
        "expected_refusal": {"()": "finetune_portal.core.logging.ExpectedRefusalFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "mail_admins": {
            "level": "ERROR",
            "filters": ["require_debug_false"],
            "class": "django.utils.log.AdminEmailHandler",
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # The HTTP clients under openai and huggingface_hub log every request at INFO.
        **{name: {"level": "WARNING"} for name in ("httpx", "httpx2", "httpcore", "httpcore2")},
        # Django's default config gives "django" its own console handler under DEBUG while records also
        # reach the root's: each line was printed twice. Here they reach the root's handler only.
        "django": {"handlers": ["mail_admins"], "level": "INFO", "propagate": True},
        # A 403 is logged as one line without a traceback.
        "django.request": {"filters": ["expected_refusal"]},
    },
}
