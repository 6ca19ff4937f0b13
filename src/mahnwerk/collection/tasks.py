"""Celery tasks of the collection step; the logic stays in the services."""

from celery import shared_task

from mahnwerk.celery import app  # noqa: F401  (the configured app: mahnwerk/__init__.py)


@shared_task(name="mahnwerk.collection.tasks.approvals")
def approvals() -> dict[str, int]:
    """Several times a day: ask vendors about newly escalated cases, remind those who did not
    answer, and escalate to the relationship manager after that (the same as
    ``mahnwerk approvals``)."""
    from mahnwerk.collection.approvals import ask_and_follow_up

    return ask_and_follow_up(actor="schedule")
