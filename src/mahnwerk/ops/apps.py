from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    """Operations: backup and restore, data protection (retention, a buyer's access and
    erasure), health, metrics and structured logs. Right of every domain app; nothing imports
    it."""

    name = "mahnwerk.ops"
    verbose_name = _("Operations")

    def ready(self) -> None:
        from mahnwerk.ops import logs, reasons  # noqa: F401  (registers the timeline's codes)

        logs.connect_celery_signals()
