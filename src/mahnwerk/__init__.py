"""Mahnwerk.

``mahnwerk.celery_app`` is the configured Celery app (``mahnwerk.celery``), loaded when it is
first asked for, not with the package: every ``mahnwerk`` command imports this package, and
Celery with kombu cost a quarter of a command's start (0.24 s) that most commands never use.
Whatever sends or runs a task loads the app first: each ``tasks`` module imports it before it
declares its tasks, and ``celery -A mahnwerk`` finds it as ``mahnwerk.celery``.
"""

from typing import Any

__all__ = ["celery_app"]


def __getattr__(name: str) -> Any:
    if name == "celery_app":
        from mahnwerk.celery import app

        return app
    raise AttributeError(f"module 'mahnwerk' has no attribute {name!r}")
