"""The Celery application: the outbox worker and the schedule (beat).

In production the broker is Redis (``CELERY_BROKER_URL=redis://127.0.0.1:6379/0``); start a
worker with ``celery -A mahnwerk worker`` and the schedule with ``celery -A mahnwerk beat``.
Without a broker (the embedded default) tasks run in-process, at once.

Loaded when a process first needs Celery, not when it starts (see ``mahnwerk/__init__.py``):
every ``tasks`` module imports it before declaring its tasks, so a task is never sent or run
without it, and the worker and beat load it through ``-A mahnwerk``.
"""

import os

from celery import Celery

from mahnwerk.ops import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mahnwerk.settings")

app = Celery("mahnwerk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The shared tasks (``shared_task``) take the current app of the thread that uses them, else the
# default app: this one, for every thread, also when some code asked Celery for its current app
# before this module was loaded (Celery would then have made an unconfigured fallback app the
# default, which sends to amqp://localhost).
app.set_default()
# The request id travels with each task and the worker binds the task's ids to its log lines
# (ops.logs). Connected here, with the app, rather than at every process's start: importing
# Celery's signals imports Celery and kombu.
logs.connect_celery_signals()
