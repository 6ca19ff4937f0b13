"""Celery tasks of the workspace; the logic stays in ``web.overview``."""

from celery import shared_task

from mahnwerk.celery import app  # noqa: F401  (the configured app: mahnwerk/__init__.py)


@shared_task(name="mahnwerk.web.tasks.keep_overview")
def keep_overview() -> str:
    """Every minute: read the default Übersicht's figures and keep them in the cache the web
    processes share, so that the page's first visitor of a minute does not wait for them."""
    from mahnwerk.web.overview import keep_default

    return keep_default().at.isoformat()
