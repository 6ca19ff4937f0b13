import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mahnwerk.settings")
application = get_wsgi_application()
# A web process loads what it serves while it boots, not in its first request: the URLs with
# their views, the API (django-ninja) and the tasks (Celery), which no longer come with Django's
# start (mahnwerk/__init__.py, settings.py). A first request that is a health probe with a
# deadline (deploy/compose.yaml: 10 s) would wait for them otherwise, after every restart of a
# worker too (gunicorn_conf.max_requests).
get_resolver().url_patterns  # noqa: B018
