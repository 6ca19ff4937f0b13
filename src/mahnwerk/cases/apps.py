from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "mahnwerk.cases"
    verbose_name = _("Debt cases")

    def ready(self) -> None:
        # Cases follow the platform's data: the intake announces what it applied, and the
        # receivers here open, update, pay and reopen cases in the same transaction.
        from mahnwerk.cases import reasons, receivers  # noqa: F401
