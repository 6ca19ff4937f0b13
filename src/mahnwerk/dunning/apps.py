from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DunningConfig(AppConfig):
    name = "mahnwerk.dunning"
    verbose_name = _("Dunning")

    def ready(self) -> None:
        # A payment or a reorder stops the dunning at once: letters still waiting in the
        # outbox for that case are cancelled (see receivers). The tasks are not imported here:
        # they load Celery, which the worker and beat load themselves (``-A mahnwerk``) and
        # everything else when it first sends a task.
        from mahnwerk.dunning import reasons, receivers  # noqa: F401
