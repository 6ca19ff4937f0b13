from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BankingConfig(AppConfig):
    name = "mahnwerk.banking"
    verbose_name = _("Bank statements")

    def ready(self) -> None:
        # The reasons a statement line is listed for support, as codes (see reasons).
        from mahnwerk.banking import reasons  # noqa: F401
