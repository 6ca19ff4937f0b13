"""``mahnwerk outbox [--status S] [--format table|json] [--limit N]``"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from mahnwerk.cases.display import NONE, format_table
from mahnwerk.dunning import outbox
from mahnwerk.dunning.models import DeliveryStatus, OutboxMessage

FORMATS = ("table", "json")


def _when(value) -> str:
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT") \
        if value else NONE


def _short(text: str, length: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[:length - 1] + "…"


def _next(message: OutboxMessage) -> str:
    if message.status == DeliveryStatus.SENDING:  # the time it was claimed
        return _("claimed %(when)s") % {"when": _when(message.next_attempt_at)}
    return _when(message.next_attempt_at)


class Command(BaseCommand):
    help = _("List the outbox (newest first) with each letter's status, attempts and last "
             "error, and how many messages are in each status.")

    def add_arguments(self, parser):
        parser.add_argument("--status", help=_("only messages in this status: %(statuses)s") % {
            "statuses": ", ".join(DeliveryStatus.values)})
        parser.add_argument("--format", choices=FORMATS, default="table",
                            help=_("table (default) or json"))
        parser.add_argument("--limit", type=int, default=200,
                            help=_("at most this many messages (default: 200)"))

    def handle(self, *args, status, format, limit, **options):
        if status and status not in DeliveryStatus.values:
            raise CommandError(_("Unknown status %(status)s; allowed: %(allowed)s") % {
                "status": status, "allowed": ", ".join(DeliveryStatus.values)})
        messages = outbox.message_list(status=status, limit=limit)
        if format == "json":
            self.stdout.write(json.dumps(
                {"counts": outbox.status_counts(),
                 "messages": [outbox.message_to_dict(m) for m in messages]},
                ensure_ascii=False, indent=2))
            return
        if messages:
            field = OutboxMessage._meta.get_field
            header = ["#", _("order"), _("level"), str(field("channel").verbose_name),
                      str(field("status").verbose_name), str(field("to_address").verbose_name),
                      str(field("attempts").verbose_name),
                      str(field("next_attempt_at").verbose_name),
                      str(field("sent_at").verbose_name), str(field("last_error").verbose_name)]
            rows = [[str(m.pk), m.case.order_id, str(m.letter.level), m.get_channel_display(),
                     m.get_status_display(), m.to_address or NONE, str(m.attempts),
                     _next(m), _when(m.sent_at), _short(m.last_error) or NONE]
                    for m in messages]
            self.stdout.write(format_table(header, rows))
        else:
            self.stderr.write(_("No messages."))
        counts = outbox.status_counts()
        self.stdout.write(", ".join(f"{DeliveryStatus(s).label}: {n}"
                                    for s, n in counts.items() if n) or _("The outbox is empty."))
