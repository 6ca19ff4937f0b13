"""Django settings for Mahnwerk.

Configuration comes from environment variables (django-environ, read strictly by
``mahnwerk.environment``: a value that cannot be used refuses to start, naming it) with
defaults that are safe for the embedded set-up: SQLite under ``var/``, debug off unless asked
for, German first.
"""

from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port, validate_host

from mahnwerk import bank_account, environment
from mahnwerk.countries import COUNTRIES
from mahnwerk.ops import logs

BASE_DIR = Path(__file__).resolve().parent
# The checkout's root (where pyproject.toml is) when run from a checkout, else the current
# directory: var/ (the embedded database, letters) lives there.
_CHECKOUT = BASE_DIR.parent.parent
PROJECT_DIR = Path(environ.Env().str(
    "MAHNWERK_HOME",
    default=str(_CHECKOUT if (_CHECKOUT / "pyproject.toml").exists() else Path.cwd())))
VAR_DIR = PROJECT_DIR / "var"

env = environment.Env()
#: The most days (or about) a setting may count: a hundred years; beyond, the dates worked
#: out from it would leave the calendar.
_DAYS = 36_500
environ.Env.read_env(PROJECT_DIR / ".env", overwrite=False)

#: The switch for production behind a TLS proxy (docs/operations.md, "Security"): secure
#: cookies, HSTS, the redirect to HTTPS, and a process that refuses to start when unsafe.
HTTPS = env.bool("MAHNWERK_HTTPS", default=False)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
#: Only for the embedded demo; production sets DJANGO_SECRET_KEY (docs/operations.md).
DEMO_SECRET_KEY = "mahnwerk-insecure-demo-key-change-me-in-production-0123456789"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DEMO_SECRET_KEY)
#: Old keys still accepted for signatures (offer and approval links already sent) after a
#: rotation; comma-separated.
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
#: Where ``make demo HOST=…`` serves (the Makefile passes it): the default of the site's
#: address (MAHNWERK_SITE_URL), so the links in the demo's mail point where it runs, and one
#: more allowed host.
DEMO_HOST = env.str("MAHNWERK_DEMO_HOST", default="")
# In production the hosts must be named: the demo's local hosts are no default there.
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS",
    default=[] if HTTPS else ["127.0.0.1", "localhost", "testserver",
                              *([DEMO_HOST.rsplit(":", 1)[0]] if DEMO_HOST else [])])
# "a.example, b.example": the space after the comma is not part of the host.
ALLOWED_HOSTS = [host.strip() for host in ALLOWED_HOSTS if host.strip()]
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
#: The public address: printed in letters and their QR codes (offer and short links), sent in
#: approval and login mails.
MAHNWERK_SITE_URL = env.address("MAHNWERK_SITE_URL", schemes=("https", "http"),
                                default=f"http://{DEMO_HOST or '127.0.0.1:8000'}",
                                default_from="MAHNWERK_DEMO_HOST" if DEMO_HOST else "",
                                example="https://mahnwerk.example")

if HTTPS:
    _unsafe = []
    if SECRET_KEY == DEMO_SECRET_KEY or not SECRET_KEY.strip():
        _unsafe.append(
            "DJANGO_SECRET_KEY is not set, so the public demo key would sign sessions and the "
            "offer and approval links (anyone could forge them): set DJANGO_SECRET_KEY to 50 or "
            "more random characters")
    if DEBUG:
        _unsafe.append(
            "DJANGO_DEBUG is on, so error pages would show settings, code and personal data: "
            "set DJANGO_DEBUG=false")
    if not ALLOWED_HOSTS:
        _unsafe.append(
            "DJANGO_ALLOWED_HOSTS is empty, so no request would be served (and the host header "
            "is what links are built from): set DJANGO_ALLOWED_HOSTS to the site's host names, "
            "e.g. DJANGO_ALLOWED_HOSTS=mahnwerk.example")
    _site = urlsplit(MAHNWERK_SITE_URL)
    _site_host = split_domain_port(_site.netloc.rsplit("@", 1)[-1])[0]
    if env.given("MAHNWERK_SITE_URL") is None:
        _unsafe.append(
            "MAHNWERK_SITE_URL is not set, so the links and QR codes in letters and the links in "
            f"approval mails would lead to {MAHNWERK_SITE_URL}: set MAHNWERK_SITE_URL to the "
            "public address, e.g. MAHNWERK_SITE_URL=https://mahnwerk.example")
    elif _site.scheme != "https":
        _unsafe.append(
            f"MAHNWERK_SITE_URL={MAHNWERK_SITE_URL!r} is not https://, so buyers would follow "
            "their letters' links unencrypted: set MAHNWERK_SITE_URL to its https:// address")
    elif ALLOWED_HOSTS and not validate_host(_site_host, ALLOWED_HOSTS):
        _unsafe.append(
            f"MAHNWERK_SITE_URL={MAHNWERK_SITE_URL!r} names a host that DJANGO_ALLOWED_HOSTS "
            f"does not serve ({','.join(ALLOWED_HOSTS)}), so every link in letters and mails "
            "would be refused: add its host to DJANGO_ALLOWED_HOSTS")
    if _unsafe:
        raise ImproperlyConfigured(
            "MAHNWERK_HTTPS=true (production) refuses to start: " + "; ".join(_unsafe) + ".")

# HTTPS behind a TLS proxy (MAHNWERK_HTTPS=true); all off for the embedded set-up on http://.
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
#: One year; the proxy sets X-Forwarded-Proto (and must overwrite what a client sends).
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
# The header only allows the domain's listing in browsers' preload lists; listing it is a
# separate, deliberate step (hstspreload.org).
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
#: The probes and Prometheus ask the process itself over plain HTTP (docs/operations.md,
#: "Health and metrics"): no redirect to HTTPS for them.
SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)$"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "simple_history",
    "axes",
    # htmx (its static file, vendored in the package) for pages that follow a background task.
    "django_htmx",
    # Prometheus metrics of requests and database queries (/metrics, ops.metrics).
    "django_prometheus",
    "mahnwerk.intake",
    "mahnwerk.cases",
    "mahnwerk.banking",
    "mahnwerk.dunning",
    "mahnwerk.collection",
    "mahnwerk.web",
    "mahnwerk.demo",
    "mahnwerk.ops",
]

MIDDLEWARE = [
    # First (and near the end, below): the request metrics see every answer (django-prometheus).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # A request id on every log line of the request and in the X-Request-ID answer header.
    "mahnwerk.ops.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "mahnwerk.web.middleware.TeamLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx: a page's polling request
    # A GET on a form-only address gets a page that says so, not a blank 405.
    "mahnwerk.web.middleware.FormOnlyAddressMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-prometheus' counterpart of the first (latency of the view and the inner layers).
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# A Content-Security-Policy on every response (django-csp): scripts, styles, images and fonts
# from this site only; no inline script or style, no plug-ins, no framing, forms post here only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # data: for the small icons style sheets embed (the admin's, the API docs').
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Sign-in throttling (django-axes): a user name from one address is locked for 15 minutes after
# 5 failed logins, on the workspace's and portal's login (web:login) and the admin's.
# Administrators unlock in the admin (Axes › Access attempts) or with
# `mahnwerk axes_reset_username NAME` / `mahnwerk axes_reset`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out user and address
    "mahnwerk.web.backends.OneQueryModelBackend",  # Django's, permissions in one query
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
#: The lockout page (German first, 429): web/locked.html.
AXES_LOCKOUT_CALLABLE = "mahnwerk.web.views.home.locked_out"
#: Behind reverse proxies: how many stand between the clients and Mahnwerk, each appending the
#: address it saw to X-Forwarded-For (MAHNWERK_PROXY_COUNT). The lockout then counts the client's
#: address that many hops from the right (web.middleware.client_address), so a client cannot
#: pass off an address of its own choosing; 0 (the default): REMOTE_ADDR, as it is.
MAHNWERK_PROXY_COUNT = env.int("MAHNWERK_PROXY_COUNT", default=0, least=0)
AXES_CLIENT_IP_CALLABLE = "mahnwerk.web.middleware.client_address"

ROOT_URLCONF = "mahnwerk.urls"
WSGI_APPLICATION = "mahnwerk.wsgi.application"

#: django-ninja's own folder, found without importing it. ninja is no installed app: Django
#: imports every installed app at each process's start, and ninja with pydantic cost every
#: ``mahnwerk`` command a quarter of a second there, though only the web serves the API (it
#: imports ninja with its URLs). The API's docs page (/api/v1/docs) still comes from ninja's
#: bundled Swagger UI, not from a CDN: its templates and static files are found here
#: (TEMPLATES' DIRS, STATICFILES_DIRS) and ``web.api`` renders the bundled page.
NINJA_DIR = Path(find_spec("ninja").origin).parent
STATICFILES_DIRS = [NINJA_DIR / "static"]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [NINJA_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Django's templates, with the plain inputs and selects drawn in Python (a sixth of the case
# list's CPU went to drawing its filter's widgets through templates).
FORM_RENDERER = "mahnwerk.web.form_renderer.PythonWidgets"

# django-environ reads an empty DATABASE_URL as no settings at all, a misspelt kind as a backend
# module of that name, "sqlite://" as a database in memory (lost at the end of each process) and
# a port that is no number as a ValueError: each would fail later, far from the cause.
_WRITE_DATABASE_URL = ("write postgres://user@host:5432/name for PostgreSQL or "
                       "sqlite:///path/to/mahnwerk.sqlite3 for SQLite, or leave DATABASE_URL out "
                       "for the embedded SQLite database in var/")
_database_url = env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'mahnwerk.sqlite3'}")
if not _database_url.strip():
    raise ImproperlyConfigured(
        f"DATABASE_URL is set but empty ({_database_url!r}): {_WRITE_DATABASE_URL}.")
try:
    DATABASES = {"default": env.db_url_config(_database_url.strip())}
except ValueError as exc:
    raise ImproperlyConfigured(
        f"DATABASE_URL={_database_url!r} cannot be read ({exc}): {_WRITE_DATABASE_URL}.") from None
_database_kind, _database_sep, _database_rest = _database_url.strip().partition("://")
if _database_kind == "sqlite" and _database_sep and _database_rest in ("", "/"):
    raise ImproperlyConfigured(
        f"DATABASE_URL={_database_url!r} names no database file (SQLite would keep the data in "
        f"memory and lose it when the process ends): {_WRITE_DATABASE_URL}.")
if not _database_rest or DATABASES["default"].get("ENGINE") not in (
        "django.db.backends.postgresql", "django.db.backends.sqlite3"):
    raise ImproperlyConfigured(
        f"DATABASE_URL={_database_url!r} is not an address of a database Mahnwerk runs on: "
        f"{_WRITE_DATABASE_URL}.")
if not isinstance(DATABASES["default"].get("CONN_MAX_AGE", 0), int | None):
    raise ImproperlyConfigured(
        f"DATABASE_URL={_database_url!r} sets conn_max_age to "
        f"{DATABASES['default']['CONN_MAX_AGE']!r}: write a number of seconds, or 0.")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets the web server read while an import writes; IMMEDIATE avoids
            # "database is locked" upgrades from read to write transactions.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
# PostgreSQL (production) through django-prometheus' backend: query counts, durations and
# errors in /metrics. The embedded SQLite keeps Django's own backend: tools recognise SQLite by
# the engine's name (pytest-django's per-worker test databases would get a broken file name).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
    # A web process keeps its connection between requests (Django's default, 0, opens one per
    # request: measured 2 ms of the web process's CPU, 6.5 ms of PostgreSQL's for a new backend
    # and 13 ms of latency per request; docs/benchmarks.md, "Intake API under load").
    # ``?conn_max_age=0`` in DATABASE_URL turns it off; the health check drops a connection the
    # server closed meanwhile, before a request uses it.
    DATABASES["default"].setdefault("CONN_MAX_AGE", 600)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # No JIT: PostgreSQL compiles a query it costs high (the route economics, with its
    # correlated subqueries) to machine code first, 711 ms for a query that then ran in 5 ms at
    # 10,000 cases (docs/scaling.md). Mahnwerk's queries are short; JIT pays off only for long
    # analytical ones. Its other options from DATABASE_URL stay.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c jit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "de"
LANGUAGES = [("de", "Deutsch"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Berlin"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = VAR_DIR / "media"

# The workspace's own login (mahnwerk.web); "/" leads staff to the cases, vendors to the portal.
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6.0's default, taken now

# Intake limits and security (docs/file-formats.md, docs/operations.md).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAHNWERK_API_MAX_BODY_BYTES", default=1_048_576, least=1)
MAHNWERK_API_MAX_BODY_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE
MAHNWERK_WEBHOOK_TOLERANCE_SECONDS = env.int("MAHNWERK_WEBHOOK_TOLERANCE_SECONDS", default=300,
                                             least=1)
MAHNWERK_IMPORT_BATCH_SIZE = env.int("MAHNWERK_IMPORT_BATCH_SIZE", default=2000, least=1)
# A file of this many bytes or more is read, parsed and digested in a second process beside the
# one that writes (intake.importing._Reader): the two use both cores. A small file (a test, an
# upload of a few rows) stays in one process, where forking would cost more than it saves;
# from 1 MB on the second process helps (50,000 payments, 3.2 MB: 0.6-1.6 s less of 9 s;
# docs/benchmarks.md). 0 sends every file through the second process; -1 none.
MAHNWERK_IMPORT_PARALLEL_BYTES = env.int("MAHNWERK_IMPORT_PARALLEL_BYTES",
                                         default=1_048_576, least=-1)
# The import page (intake.import_jobs): where an upload waits between its check and its apply,
# its largest size, and how long an upload and its report are kept.
MAHNWERK_IMPORT_DIR = Path(env.str("MAHNWERK_IMPORT_DIR", default=str(VAR_DIR / "imports")))
MAHNWERK_IMPORT_MAX_BYTES = env.int("MAHNWERK_IMPORT_MAX_BYTES", default=50 * 1_048_576, least=1)
MAHNWERK_IMPORT_KEEP_HOURS = env.int("MAHNWERK_IMPORT_KEEP_HOURS", default=24,
                                     least=1, most=24 * 365)
# The platform's ids (order, vendor, buyer, ...): the characters (a regular expression one id
# must match as a whole) and the length; a formula, "/", a space or NUL never becomes an id.
MAHNWERK_ID_PATTERN = env.pattern("MAHNWERK_ID_PATTERN", default=r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAHNWERK_ID_MAX_LENGTH = env.int("MAHNWERK_ID_MAX_LENGTH", default=64, least=1, most=64)
# The checkout platform's country default for buyers without a country code.
MAHNWERK_DEFAULT_COUNTRY = env.country("MAHNWERK_DEFAULT_COUNTRY", default="DE",
                                       countries=COUNTRIES)
# The most a dunning letter may cost the buyer (its actual cost: paper, printing, postage;
# docs/process-reading.md, "Fees and interest"); a level's fee above it is refused.
MAHNWERK_DUNNING_FEE_CAP = env.amount("MAHNWERK_DUNNING_FEE_CAP", default="2.50")

# Logs (ops.logs, structlog): one JSON object a line in production (MAHNWERK_LOG_FORMAT=json,
# the default with MAHNWERK_HTTPS), readable lines for the demo (console). Mahnwerk's own and
# Celery's lines from MAHNWERK_LOG_LEVEL (INFO: the domain's moments), other libraries' from
# MAHNWERK_LOG_LEVEL_OTHERS (WARNING).
MAHNWERK_LOG_FORMAT = env.str("MAHNWERK_LOG_FORMAT", default="json" if HTTPS else "console")
if MAHNWERK_LOG_FORMAT not in logs.FORMATS:
    raise ImproperlyConfigured(
        f"MAHNWERK_LOG_FORMAT={MAHNWERK_LOG_FORMAT!r} is not a log format: set it to "
        f"{' or '.join(logs.FORMATS)}.")
LOGGING = logs.logging_config(
    log_format=MAHNWERK_LOG_FORMAT, level=env.log_level("MAHNWERK_LOG_LEVEL", default="INFO"),
    root_level=env.log_level("MAHNWERK_LOG_LEVEL_OTHERS", default="WARNING"))
logs.configure()

# /metrics (ops.metrics): open from this machine (loopback, not through a proxy) and with
# DJANGO_DEBUG; from elsewhere only with "Authorization: Bearer <MAHNWERK_METRICS_TOKEN>".
MAHNWERK_METRICS_TOKEN = env.str("MAHNWERK_METRICS_TOKEN", default="")
#: Seconds each reachability check of /readyz may take (broker, cache, mail server).
MAHNWERK_READY_TIMEOUT = env.float("MAHNWERK_READY_TIMEOUT", default=3.0, above=0, most=600)

# The vendor's approval before collection (docs/operations.md).
MAHNWERK_APPROVAL_REMINDER_DAYS = env.int("MAHNWERK_APPROVAL_REMINDER_DAYS", default=7,
                                          least=1, most=_DAYS)
MAHNWERK_APPROVAL_ESCALATION_DAYS = env.int("MAHNWERK_APPROVAL_ESCALATION_DAYS", default=7,
                                            least=1, most=_DAYS)
MAHNWERK_APPROVAL_LINK_DAYS = env.int("MAHNWERK_APPROVAL_LINK_DAYS", default=30,
                                      least=1, most=_DAYS)
#: The route economics (collection.economics): the limits between the amount bands, the fewest
#: cases a group needs for a rate, the days after which a step's outcome counts as known, and
#: what one letter costs (printing and postage).
MAHNWERK_AMOUNT_BANDS = env.amounts("MAHNWERK_AMOUNT_BANDS", default=["50", "200", "1000"])
MAHNWERK_ECONOMICS_MIN_CASES = env.int("MAHNWERK_ECONOMICS_MIN_CASES", default=20, least=1)
MAHNWERK_ECONOMICS_MATURE_DAYS = env.int("MAHNWERK_ECONOMICS_MATURE_DAYS", default=30,
                                         least=0, most=_DAYS)
MAHNWERK_LETTER_COST = env.amount("MAHNWERK_LETTER_COST", default="1.10")
# The creditor named in every letter (the platform sells as merchant of record).
MAHNWERK_CREDITOR = {
    "name": env.str("MAHNWERK_CREDITOR_NAME", default="CheckoutPlattform GmbH"),
    "street": env.str("MAHNWERK_CREDITOR_STREET", default="Rheinuferstraße 12"),
    "postcode": env.str("MAHNWERK_CREDITOR_POSTCODE", default="50668"),
    "city": env.str("MAHNWERK_CREDITOR_CITY", default="Köln"),
    "country": env.str("MAHNWERK_CREDITOR_COUNTRY", default="Deutschland"),
    "email": env.str("MAHNWERK_CREDITOR_EMAIL", default="forderungen@checkout.example"),
    "phone": env.str("MAHNWERK_CREDITOR_PHONE", default="+49 221 1234560"),
    "register": env.str("MAHNWERK_CREDITOR_REGISTER", default="Amtsgericht Köln HRB 123456"),
    "managing_director": env.str("MAHNWERK_CREDITOR_MD", default="Dr. Jana Beispiel"),
}

# The creditor's bank account on every letter, with a reference and a GiroCode (issue 11;
# docs/operations.md): checked at start (mahnwerk.bank_account), a wrong IBAN refuses to
# start. No IBAN: the letters print no bank block. The embedded demo (the demo secret key)
# shows the well-known example IBAN of the German banks, so that its letters carry one.
DEMO_IBAN, DEMO_BIC = "DE89370400440532013000", "COBADEFFXXX"
_demo = SECRET_KEY == DEMO_SECRET_KEY
MAHNWERK_CREDITOR_IBAN = env.str("MAHNWERK_CREDITOR_IBAN", default=DEMO_IBAN if _demo else "")
MAHNWERK_CREDITOR_BIC = env.str("MAHNWERK_CREDITOR_BIC", default=DEMO_BIC if _demo else "")
MAHNWERK_CREDITOR_ACCOUNT_HOLDER = env.str("MAHNWERK_CREDITOR_ACCOUNT_HOLDER",
                                           default=MAHNWERK_CREDITOR["name"])
MAHNWERK_CREDITOR_ACCOUNT = bank_account.account(
    iban=MAHNWERK_CREDITOR_IBAN, bic=MAHNWERK_CREDITOR_BIC,
    holder=MAHNWERK_CREDITOR_ACCOUNT_HOLDER)

# Celery: Redis as broker in production (CELERY_BROKER_URL=redis://127.0.0.1:6379/0; start
# `celery -A mahnwerk worker` and `celery -A mahnwerk beat`). Without a broker (the embedded
# default) tasks run in-process, at once, and their errors surface to the caller.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
#: The worker logs through Django's LOGGING (structured, with the task's run and request ids).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = TIME_ZONE
#: Add entries by name; beat reads the whole dict.
CELERY_BEAT_SCHEDULE = {
    "deliver-outbox": {"task": "mahnwerk.dunning.tasks.deliver_outbox", "schedule": 60.0},
    "monthly-dunning-run": {"task": "mahnwerk.dunning.tasks.monthly_run",
                            "schedule": 3600.0 * 6},
    "resume-runs": {"task": "mahnwerk.dunning.tasks.resume_runs", "schedule": 300.0},
    "approvals": {"task": "mahnwerk.collection.tasks.approvals", "schedule": 3600.0 * 4},
    "retention": {"task": "mahnwerk.ops.tasks.retention", "schedule": 3600.0 * 24},
    "import-uploads": {"task": "mahnwerk.intake.tasks.clean_imports",
                       "schedule": 3600.0 * 24},
    "keep-overview": {"task": "mahnwerk.web.tasks.keep_overview", "schedule": 60.0},
}
#: The cache the web processes and the workers share (the Übersicht's figures, kept by the
#: schedule): Redis (``MAHNWERK_CACHE_URL``, by default the broker when that is Redis), else
#: each process's own memory (the embedded set-up: one process).
_broker_is_redis = CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
MAHNWERK_CACHE_URL = env.address(
    "MAHNWERK_CACHE_URL", default=CELERY_BROKER_URL if _broker_is_redis else "",
    default_from="CELERY_BROKER_URL" if _broker_is_redis else "",
    schemes=("redis", "rediss", "unix"), several=True, example="redis://127.0.0.1:6379/1")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                      "LOCATION": MAHNWERK_CACHE_URL,
                      # An unreachable Redis fails a page (and /readyz) in seconds, not never.
                      "OPTIONS": {"socket_connect_timeout": 3}} if MAHNWERK_CACHE_URL else
          {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Data protection (docs/operations.md, "Data protection").
#: Days after a case was closed (paid, cancelled, reordered) before its personal data is
#: anonymised by the schedule: 3 years, the regular limitation period (§ 195 BGB). Empty: the
#: schedule anonymises nothing (`mahnwerk anonymise --older-than DAYS` by hand).
MAHNWERK_RETENTION_DAYS = env.int("MAHNWERK_RETENTION_DAYS", default=1095, least=0, most=_DAYS,
                                  blank=None)
#: Years a copy of a letter sent is kept after the end of its year (§ 257 (4) HGB: 6); 0: not.
MAHNWERK_LETTER_COPY_YEARS = env.int("MAHNWERK_LETTER_COPY_YEARS", default=6, least=0, most=100)
#: Days the access log keeps who looked at whose data.
MAHNWERK_ACCESS_LOG_DAYS = env.int("MAHNWERK_ACCESS_LOG_DAYS", default=730, least=1, most=_DAYS)

#: Cases a dunning run executes per transaction (1: one transaction per case; docs/architecture.md).
MAHNWERK_RUN_BATCH = env.int("MAHNWERK_RUN_BATCH", default=200, least=1)
#: Seconds without progress after which the process executing a run counts as gone: its claim
#: is stale, and the run's page offers to resume it (a batch takes well under a second).
MAHNWERK_RUN_STALE_SECONDS = env.int("MAHNWERK_RUN_STALE_SECONDS", default=120, least=1)
#: The Celery queue a run's batch tasks go to (empty: Celery's default queue, with everything
#: else); a queue of its own lets runs have workers of their own (`celery -A mahnwerk worker
#: -Q runs`) that the outbox and the schedule's other tasks do not hold up (docs/operations.md).
MAHNWERK_RUN_QUEUE = env.str("MAHNWERK_RUN_QUEUE", default="")
#: Without a broker, "Ausführen" in the workspace executes the run in a thread of the web
#: process, so that the page returns at once and shows the progress (docs/operations.md). Off:
#: inside the request, as the tests do. With a broker a Celery worker executes it.
MAHNWERK_RUN_IN_THREAD = env.bool("MAHNWERK_RUN_IN_THREAD", default=CELERY_TASK_ALWAYS_EAGER)

# The outbox (mahnwerk.dunning.outbox).
#: Without a broker, deliver right after a letter is queued (in the run's process). Off by
#: default so that a run stays fast; `mahnwerk deliver-outbox [--loop 60]` delivers instead.
MAHNWERK_DELIVER_EAGERLY = env.bool("MAHNWERK_DELIVER_EAGERLY", default=False)
#: E-mail letters a worker claims at once, sends over one connection and records in one
#: transaction (docs/operations.md, "Delivery"): one Celery task per chunk.
MAHNWERK_OUTBOX_CHUNK = env.int("MAHNWERK_OUTBOX_CHUNK", default=100, least=1)
#: Attempts before a letter is failed (pauses between them: 1 min, 5 min, 30 min, 2 h, 12 h).
MAHNWERK_OUTBOX_MAX_ATTEMPTS = env.int("MAHNWERK_OUTBOX_MAX_ATTEMPTS", default=5, least=1)
#: Where buyers' replies to a dunning e-mail go.
MAHNWERK_OUTBOX_REPLY_TO = env.str("MAHNWERK_OUTBOX_REPLY_TO",
                                   default=MAHNWERK_CREDITOR["email"])

# E-mail: SMTP (EMAIL_HOST, EMAIL_PORT, ...) or any other Django mail backend.
# Without EMAIL_HOST the embedded set-up writes each pass's messages as files under var/mail.
# A provider through django-anymail: set EMAIL_BACKEND to its backend, e.g.
# EMAIL_BACKEND=anymail.backends.mailgun.EmailBackend, and its options as JSON in ANYMAIL, e.g.
# ANYMAIL='{"MAILGUN_API_KEY": "...", "MAILGUN_SENDER_DOMAIN": "mg.checkout.example",
#           "WEBHOOK_SECRET": "user:password"}'.
# Bounces come back through anymail's tracking webhooks under /anymail/ (web/urls.py);
# dunning.receivers marks the message bounced. "anymail" need not be in INSTALLED_APPS. A
# provider's webhook is mounted only with WEBHOOK_SECRET or its signing key (dunning.webhooks);
# with the default ANYMAIL={} every /anymail/ path answers 404.
EMAIL_HOST = env.str("EMAIL_HOST", default="")
EMAIL_PORT = env.int("EMAIL_PORT", default=25, least=1, most=65535)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10, least=1)
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST
    else "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL",
                             default="Forderungsmanagement <forderungen@checkout.example>")
ANYMAIL = env.json("ANYMAIL", default={})
