"""Settings for the open cancer imaging archive, read from the environment.

Defaults give the embedded install: SQLite, django-q2's ORM broker and local file storage
under ./var. Production sets DATABASE_URL (PostgreSQL, psycopg 3), DJANGO_SECRET_KEY,
TCIA_STORAGE_ROOT and DJANGO_ALLOWED_HOSTS.
"""
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it (a long random string), or set DJANGO_DEBUG=1 "
            "for a local development run."
        )
    SECRET_KEY = "development-only-insecure-key-never-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "tcia.core",
    "collections_app",
    "curation",
    "curation.checks",
    "curation.phi",
    "curation.review",
    "proposals",
    "doi",
    "nbia",
    "api",
    "dicomweb",
    "supporting",  # supporting data (tables, annotations, documents, slides), above curation
    "publication",  # the publishing layer, above collections_app and doi
    "fixity",  # the fixity audit: schedule, runs, failures, blocked downloads
    "feedback",  # researchers' problem reports, curators' answers, errata
    "demo",  # demo data: above every app, imported by none
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "dicomweb.assets.WhiteNoiseMiddleware",  # WhiteNoise, with the OHIF viewer's assets (dicomweb/assets.py)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tcia.urls"
WSGI_APPLICATION = "tcia.wsgi.application"
ASGI_APPLICATION = "tcia.asgi.application"

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
                "tcia.core.context_processors.roles",
            ],
        },
    },
]

VAR_DIR = Path(os.environ.get("TCIA_VAR_DIR", BASE_DIR / "var"))

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes. IMMEDIATE takes the write lock when a
    # transaction begins, so a writer waits its turn (up to `timeout` seconds) instead of failing
    # with "database is locked" when a transaction that read first tries to write while another
    # process writes: SQLite cannot wait in that case, only refuse.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": int(os.environ.get("TCIA_SQLITE_TIMEOUT", "60")), "transaction_mode": "IMMEDIATE",
         "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
    # Connections are kept (CONN_MAX_AGE, as on PostgreSQL): opening one and setting its pragmas
    # cost a public page half its time.

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]

# ---------------------------------------------------------------- storages (issue #14: object storage)
# Archive, quarantine and derived files live behind Django's storage API: a folder under
# TCIA_STORAGE_ROOT each by default, or anywhere TCIA_ARCHIVE_STORAGE / TCIA_QUARANTINE_STORAGE /
# TCIA_DERIVED_STORAGE say: another folder, or an S3-compatible bucket `s3://bucket[/prefix]`
# (django-storages on boto3, reached with the AWS_* variables; tcia/storage_config.py).
from tcia.storage_config import storage_backend  # noqa: E402

STORAGE_ROOT = Path(os.environ.get("TCIA_STORAGE_ROOT", VAR_DIR / "storage"))
MEDIA_ROOT = STORAGE_ROOT / "public-media"
MEDIA_URL = "/media/"
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": STORAGE_ROOT / "default"},
    },
    # Immutable, content-addressed DICOM and attachments (sha256 names).
    "archive": storage_backend(os.environ.get("TCIA_ARCHIVE_STORAGE", ""), variable="TCIA_ARCHIVE_STORAGE",
                               default_folder=STORAGE_ROOT / "archive"),
    # Original, not yet de-identified, rejected files: curators only, purged by command.
    "quarantine": storage_backend(os.environ.get("TCIA_QUARANTINE_STORAGE", ""), variable="TCIA_QUARANTINE_STORAGE",
                                  default_folder=STORAGE_ROOT / "quarantine"),
    # Rendered thumbnails and previews (derived, may be regenerated).
    "derived": storage_backend(os.environ.get("TCIA_DERIVED_STORAGE", ""), variable="TCIA_DERIVED_STORAGE",
                               default_folder=STORAGE_ROOT / "derived"),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ),
    },
}
# Single-file downloads from a bucket: streamed through the portal (default), or answered with a
# redirect to a presigned URL valid TCIA_S3_URL_EXPIRE seconds (the bucket's endpoint must then
# be reachable by the portal's clients). Zips, getImage, the Retriever and WADO always stream.
TCIA_S3_REDIRECT_DOWNLOADS = env_bool("TCIA_S3_REDIRECT_DOWNLOADS", False)
# ---------------------------------------------------------------- end of storages block

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "catalogue"
LOGOUT_REDIRECT_URL = "catalogue"

EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "archive@localhost")
# Who gets mail_admins (fixity failures): "Name <a@example.org>, b@example.org".
ADMINS = [(a.split("<")[0].strip() or a.strip(), a.split("<")[-1].rstrip(">").strip()) for a in env_list("DJANGO_ADMINS")]
SERVER_EMAIL = os.environ.get("DJANGO_SERVER_EMAIL", DEFAULT_FROM_EMAIL)

# Fixity audit (fixity/services.py): every stored file re-hashed at least every CYCLE_DAYS, by
# runs of at most RUN_SECONDS (the schedule starts one every 15 minutes), reading no faster than
# BYTES_PER_SECOND (0: as fast as the storage gives).
TCIA_FIXITY_CYCLE_DAYS = int(os.environ.get("TCIA_FIXITY_CYCLE_DAYS", "90"))
TCIA_FIXITY_RUN_SECONDS = float(os.environ.get("TCIA_FIXITY_RUN_SECONDS", "600"))
TCIA_FIXITY_BYTES_PER_SECOND = int(os.environ.get("TCIA_FIXITY_BYTES_PER_SECOND", str(50 * 1000 * 1000)))
# Researchers' problem reports (feedback/): at most REPORTS per WINDOW seconds from one address.
TCIA_FEEDBACK_RATE = os.environ.get("TCIA_FEEDBACK_RATE", "5/3600")

Q_CLUSTER = {
    "name": "tcia",
    "orm": "default",
    "workers": int(os.environ.get("TCIA_Q_WORKERS", "2")),
    "timeout": int(os.environ.get("TCIA_Q_TIMEOUT", "3600")),
    "retry": int(os.environ.get("TCIA_Q_RETRY", "3700")),
    "max_attempts": 2,
    "catch_up": False,
    "sync": env_bool("TCIA_Q_SYNC", False),
    "label": "Task queue",
}
# Many machines: django-q2 on Redis when TCIA_Q_REDIS names one (redis://host:6379/0); the ORM
# broker (the database itself) otherwise.
if os.environ.get("TCIA_Q_REDIS"):
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = os.environ["TCIA_Q_REDIS"]

TCIA_API_ANON_RATE = os.environ.get("TCIA_API_ANON_RATE", "3000/hour")
TCIA_API_USER_RATE = os.environ.get("TCIA_API_USER_RATE", "20000/hour")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_RATES": {"anon": TCIA_API_ANON_RATE, "user": TCIA_API_USER_RATE},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Open Cancer Imaging Archive REST API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# DICOMweb and the OHIF viewer (issue #16): origins allowed to call /dicomweb/ from a browser
# (comma-separated; "*" for any), and where `make ohif` unpacks the pinned OHIF build.
TCIA_DICOMWEB_CORS_ORIGINS = env_list("TCIA_DICOMWEB_CORS_ORIGINS")
TCIA_OHIF_ROOT = Path(os.environ.get("TCIA_OHIF_ROOT", BASE_DIR / "var" / "ohif"))
if (TCIA_OHIF_ROOT / "public").is_dir():
    WHITENOISE_ROOT = TCIA_OHIF_ROOT / "public"  # /viewer/<asset>; index.html is a view (it carries the CSP)
# Hashed names are cached for ever (Django's manifest names, OHIF's 16-hex-digit bundle names) and
# the viewer's assets carry its own policy: dicomweb.assets.WhiteNoiseMiddleware.

# Archive identity and de-identification parameters.
TCIA_SITE_NAME = os.environ.get("TCIA_SITE_NAME", "Open Cancer Imaging Archive")
# Public base URL (e.g. https://archive.example.org): where DOIs resolve to and what lists and
# manifests link to. Unset, pages use the address each request came to (tcia.core.site).
TCIA_SITE_URL = os.environ.get("TCIA_SITE_URL", "")
TCIA_UID_ROOT = os.environ.get("TCIA_UID_ROOT", "1.3.6.1.4.1.14519.5.2.1.9999")
TCIA_DEID_SECRET = os.environ.get("TCIA_DEID_SECRET", SECRET_KEY)
# Publication needs a de-identification self-score (curation/phi/selfscore.py) of at least this, in %.
TCIA_DEID_MIN_SCORE = float(os.environ.get("TCIA_DEID_MIN_SCORE", "99.0"))
TCIA_DOI_PREFIX = os.environ.get("TCIA_DOI_PREFIX", "10.80000")
# Intake limits: one file, and one upload request (the browser uploader sends big selections in
# many requests); Django's own cap on files per request is raised to match the uploader's chunks.
TCIA_MAX_FILE_BYTES = int(os.environ.get("TCIA_MAX_FILE_BYTES", str(1024**3)))
TCIA_MAX_UPLOAD_BYTES = int(os.environ.get("TCIA_MAX_UPLOAD_BYTES", str(2 * 1024**3)))
DATA_UPLOAD_MAX_NUMBER_FILES = int(os.environ.get("TCIA_MAX_FILES_PER_REQUEST", "1000"))
# A worker holds a batch under a lease it renews; another takes over when it expires (or at once
# when the holder was a process of this machine that died).
TCIA_INTAKE_LEASE_SECONDS = int(os.environ.get("TCIA_INTAKE_LEASE_SECONDS", "120"))
# Intake hashes and writes each clean file into a local archive folder in a helper process of its
# own (collections_app/services/blobproc.py: no GIL shared with the de-identifying thread); 0: a
# thread of the intake process does it (as it always does for a bucket).
TCIA_BLOB_PROCESS = env_bool("TCIA_BLOB_PROCESS", True)
# Files a worker claims and writes in one transaction (a crash loses at most these, retried).
TCIA_INTAKE_CHUNK_FILES = int(os.environ.get("TCIA_INTAKE_CHUNK_FILES", "200"))
TCIA_DEMO = env_bool("TCIA_DEMO", DEBUG)

# ---------------------------------------------------------------- security (issue #13)
# docs/security.md says what each setting promises; README's production section which
# environment a public server sets. `manage.py check --deploy` is clean with that environment
# (tests/security/test_deploy_check.py).
from csp.constants import NONCE  # noqa: E402  (the marker django-csp replaces by the nonce)

INSTALLED_APPS += ["csp", "axes"]
# CSP on every response; axes last, as its documentation asks, so it sees the final response.
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.common.CommonMiddleware") + 1, "tcia.core.middleware.RejectNulMiddleware")
MIDDLEWARE.append("fixity.blocking.FileBlockedMiddleware")  # a download of a file that failed fixity: a clear 503
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
TEMPLATES[0]["OPTIONS"]["context_processors"].append("csp.context_processors.nonce")

# A strict Content-Security-Policy: scripts and styles only from our own static files (or an
# element carrying the per-response nonce); no inline handlers, style attributes, eval, plugins,
# framing or foreign form targets; images only from us (and data: for canvas snapshots).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],  # django-csp writes the response's nonce here
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the upload and review scripts read the token from the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# DJANGO_HTTPS=1: the portal is served over HTTPS only (directly or behind a proxy): plain HTTP
# is redirected, cookies are marked Secure and browsers are told to remember it (HSTS).
TCIA_HTTPS = env_bool("DJANGO_HTTPS", False)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", TCIA_HTTPS)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", TCIA_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(31_536_000 if TCIA_HTTPS else 0)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", TCIA_HTTPS)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", TCIA_HTTPS)
# Behind a TLS-terminating proxy, the proxy's X-Forwarded-Proto says whether the client used
# HTTPS. Only set this when the proxy always writes (or strips) that header.
if env_bool("DJANGO_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated);
# throttles and login lockouts count against tcia.core.clientip.client_ip(request).
TCIA_TRUSTED_PROXIES = env_list("TCIA_TRUSTED_PROXIES")

# Failed logins (login form, admin login, NBIA token endpoint) are counted per account and per
# client address; at the limit that account, or that address, is refused until the cool-off
# ends or an admin deletes the attempt record (Admin → Axes → Access attempts).
AUTHENTICATION_BACKENDS = [
    "tcia.core.auth.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("TCIA_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("TCIA_LOGIN_COOLOFF_MINUTES", "15")) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "tcia.core.clientip.axes_client_ip"
AXES_LOCKOUT_CALLABLE = "tcia.core.auth.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["username", "password"]
# ---------------------------------------------------------------- end of security block

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TCIA_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
