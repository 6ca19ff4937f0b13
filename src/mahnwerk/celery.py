"""The Celery application: the outbox worker and the schedule (beat).

In production the broker is Redis (``CELERY_BROKER_URL=redis://127.0.0.1:6379/0``); start a
worker with ``celery -A mahnwerk worker`` and the schedule with ``celery -A mahnwerk beat``.
Without a broker (the embedded default) tasks run in-process, at once.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mahnwerk.settings")

app = Celery("mahnwerk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
