from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    """Operations: backup and restore. Right of every domain app; nothing imports it."""

    name = "mahnwerk.ops"
    verbose_name = _("Operations")
