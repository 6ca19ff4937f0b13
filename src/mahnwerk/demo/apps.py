from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    name = "mahnwerk.demo"
    verbose_name = _("Demo data")

    def ready(self) -> None:
        # The reasons of the demo's earlier months, as codes (see reasons).
        from mahnwerk.demo import reasons  # noqa: F401
