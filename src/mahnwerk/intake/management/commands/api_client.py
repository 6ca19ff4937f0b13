"""``mahnwerk api-client create NAME | list | deactivate NAME | rotate-webhook-secret NAME``"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk.intake.api_clients import (
    ApiClientError,
    create_api_client,
    deactivate_api_client,
    get_api_client,
    rotate_webhook_secret,
)
from mahnwerk.intake.models import ApiClient


class Command(BaseCommand):
    help = _("Manage the clients of the intake API: create one (its key is shown once), list "
             "them, deactivate one, or give one a new webhook secret.")

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help=_("create a client and show its API key once"))
        create.add_argument("name", help=_("the client's name, e.g. checkout-platform"))
        actions.add_parser("list", help=_("list the clients (without keys)"))
        deactivate = actions.add_parser("deactivate", help=_("turn a client's API key off"))
        deactivate.add_argument("name")
        rotate = actions.add_parser("rotate-webhook-secret",
                                    help=_("give a client a new webhook secret and show it"))
        rotate.add_argument("name")

    def handle(self, *args, action, **options):
        try:
            if action == "create":
                self._create(options["name"])
            elif action == "list":
                self._list()
            elif action == "deactivate":
                client = deactivate_api_client(name=options["name"])
                self.stdout.write(_("API client %(name)s is deactivated; its key no longer "
                                    "works.") % {"name": client.name})
            elif action == "rotate-webhook-secret":
                secret = rotate_webhook_secret(client=get_api_client(name=options["name"]))
                self.stdout.write(_("New webhook secret for %(name)s (the old one no longer "
                                    "works):") % {"name": options["name"]})
                self.stdout.write(secret)
        except ApiClientError as exc:
            raise CommandError(str(exc)) from None

    def _create(self, name: str) -> None:
        client, key = create_api_client(name=name)
        self.stdout.write(_("API client %(name)s created.") % {"name": client.name})
        self.stdout.write(_("API key (shown only now; store it safely, only its hash is "
                            "kept):"))
        self.stdout.write(key)
        self.stdout.write(_("Webhook secret (for signing webhook deliveries):"))
        self.stdout.write(client.webhook_secret)

    def _list(self) -> None:
        clients = ApiClient.objects.order_by("name")
        if not clients:
            self.stdout.write(_("There are no API clients yet; create one with "
                                "\"mahnwerk api-client create NAME\"."))
            return
        for client in clients:
            state = _("active") if client.is_active else _("deactivated")
            self.stdout.write(_("%(name)s  key mw_%(prefix)s_…  %(state)s  created %(created)s")
                              % {"name": client.name, "prefix": client.key_prefix,
                                 "state": state,
                                 "created": timezone.localtime(client.created_at)
                                 .strftime("%Y-%m-%d %H:%M")})
