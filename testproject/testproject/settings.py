"""Settings of the django-axme test project.

Everything that differs between a laptop, CI and a real deployment comes from the
environment: ``DATABASE_URL`` (SQLite when unset), ``CELERY_BROKER_URL`` (a filesystem
broker that needs no server when unset), ``AXME_BASE_URL`` and ``AXME_API_KEY``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from django_axme.celery import beat_schedule

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TESTPROJECT_VAR_DIR", BASE_DIR / "var"))

SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "testproject-insecure-secret-key-for-local-use-only"
)
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_axme",
    "purchases",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "testproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

WSGI_APPLICATION = "testproject.wsgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL and a busy timeout let the web server, the worker and the tests share one file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}

DEFAULT_AUTO_FIELD = os.environ.get("DEFAULT_AUTO_FIELD", "django.db.models.AutoField")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

LOGIN_URL = "admin:login"

AXME = {
    "BASE_URL": os.environ.get("AXME_BASE_URL", "http://127.0.0.1:8765"),
    "API_KEY": os.environ.get("AXME_API_KEY", "axme_sa_demo_local-emulator-key"),
    "DEFAULT_OWNER_AGENT": os.environ.get("AXME_OWNER_AGENT", "agent://demo/approvers"),
    "DEFAULT_FROM_AGENT": os.environ.get("AXME_FROM_AGENT", "agent://demo/shop"),
    # How purchase requests read in the AXME admin ("Espresso machine, 1,800.00 EUR, ...").
    "ADAPTER": "purchases.adapter.PurchasesAdapter",
    "INBOX_OWNER_AGENTS": [os.environ.get("AXME_OWNER_AGENT", "agent://demo/approvers")],
    # Webhooks: AXME (here the emulator) pushes inbox changes to /axme/webhook/; the inbox
    # sync stays as the safety net. `manage.py axme_webhooks sync` subscribes WEBHOOK_URL.
    "WEBHOOK_SECRETS": [
        os.environ.get("AXME_WEBHOOK_SECRET", "testproject-webhook-secret-for-local-use")
    ],
    "WEBHOOK_URL": os.environ.get("AXME_WEBHOOK_URL", "http://127.0.0.1:8000/axme/webhook/"),
    "WEBHOOK_PROCESSING": os.environ.get("AXME_WEBHOOK_PROCESSING", "celery"),
    # This project is also an AXME agent: it places orders (purchases/axme_handlers.py) for
    # the address below. `manage.py axme_agent` listens; the demo's worker does it itself.
    "AGENT_ADDRESSES": [
        a for a in os.environ.get("AXME_AGENT_ADDRESSES", "agent://demo/purchasing").split(",") if a
    ],
    "AGENT_LISTEN_IN_WORKER": os.environ.get("AXME_AGENT_LISTEN_IN_WORKER", "0") == "1",
}

# Celery: a broker that needs no server unless CELERY_BROKER_URL says otherwise.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        # Exchange tables (fanout, remote control); kombu's default is ./control in the cwd.
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
    _queue_dir.mkdir(parents=True, exist_ok=True)  # kombu needs the folder to exist
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "0") == "1"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# django-axme's periodic tasks (the demo shortens the periods through the environment).
CELERY_BEAT_SCHEDULE = beat_schedule(
    reconcile_seconds=float(os.environ.get("AXME_RECONCILE_SECONDS", "60")),
    inbox_seconds=float(os.environ.get("AXME_INBOX_SYNC_SECONDS", "30")),
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "django_axme": {"handlers": ["console"], "level": os.environ.get("AXME_LOG_LEVEL", "INFO")},
        "purchases": {"handlers": ["console"], "level": "INFO"},
    },
}

VAR_DIR.mkdir(parents=True, exist_ok=True)
