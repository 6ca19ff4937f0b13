from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    """Operations: backup and restore, data protection (retention, a buyer's access and
    erasure), health, metrics and structured logs. Right of every domain app; nothing imports
    it."""

    name = "mahnwerk.ops"
    verbose_name = _("Operations")

    def ready(self) -> None:
        from mahnwerk.ops import reasons  # noqa: F401  (registers the timeline's codes)

        # The Celery signals of the structured logs (ops.logs) are connected by the Celery app
        # when a process loads it (mahnwerk.celery), not here: most processes never use Celery.
