"""``mahnwerk print-queue [--format table|json]`` and
``mahnwerk print-queue --pdf FILE [--date YYYY-MM-DD]``"""

import getpass
import json
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mahnwerk.cases import access_log
from mahnwerk.cases.display import NONE, day, format_table, yes_no
from mahnwerk.cases.models import AccessKind
from mahnwerk.dunning import dispatch, letters, outbox, selectors
from mahnwerk.progress import ProgressBar

FORMATS = ("table", "json")


def post_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(_("--date %(value)s is not a date; write it like 2026-12-01.")
                           % {"value": value}) from None


def item_to_dict(item: selectors.PrintItem) -> dict:
    message, order = item.message, item.message.case.order
    return {"id": message.pk, "order_id": message.case.order_id,
            "buyer": item.buyer_name, "address": {
                "street": order.street, "house_number": order.house_number,
                "postcode": order.postcode, "city": order.city, "country": order.country},
            "level": message.letter.level,
            "letter_date": message.letter.letter_date.isoformat(),
            "waiting_since": item.waiting_since.isoformat(),
            "working_days_waited": item.working_days, "allowed_working_days": item.allowed,
            "overdue": item.overdue}


class Command(BaseCommand):
    help = _("List the letters waiting in the print queue (with how many working days each has "
             "waited and whether that is longer than its policy allows), or with --pdf write "
             "them all into one PDF to print and mark them posted on --date.")

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=FORMATS, default="table",
                            help=_("table (default) or json"))
        parser.add_argument("--pdf", type=Path, metavar="FILE",
                            help=_("write every waiting letter into this PDF and mark them "
                                   "posted; nothing is marked if the file cannot be written"))
        parser.add_argument("--date", dest="day", metavar="YYYY-MM-DD",
                            help=_("with --pdf: the day the letters are posted (default: "
                                   "today); a letter whose run was earlier is dated that day"))
        parser.add_argument("--as", dest="actor", default=None,
                            help=_("who posts them, for the timeline (default: your login "
                                   "name)"))
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, format, pdf, day, actor, no_progress, **options):
        if pdf is None:
            if day:
                raise CommandError(_("--date goes with --pdf FILE."))
            self._list(format)
            return
        on = post_day(day) if day else timezone.localdate()
        self._print(pdf, on=on, actor=f"cli:{actor or getpass.getuser()}",
                    no_progress=no_progress)

    def _list(self, format: str) -> None:
        items = selectors.print_items()
        if format == "json":
            self.stdout.write(json.dumps({"letters": [item_to_dict(i) for i in items],
                                          "overdue": sum(i.overdue for i in items)},
                                         ensure_ascii=False, indent=2))
            return
        if not items:
            self.stdout.write(_("The print queue is empty."))
            return
        header = [_("order"), _("buyer"), _("postal address"), _("level"), _("letter date"),
                  _("working days waited"), _("overdue")]
        rows = [[i.message.case.order_id, i.buyer_name or NONE, i.address or NONE,
                 str(i.message.letter.level), day(i.waiting_since), str(i.working_days),
                 yes_no(i.overdue) + (f" (> {i.allowed})" if i.overdue else "")]
                for i in items]
        self.stdout.write(format_table(header, rows))
        overdue = sum(i.overdue for i in items)
        self.stdout.write(ngettext("%(count)d letter waiting, %(overdue)d longer than allowed.",
                                   "%(count)d letters waiting, %(overdue)d longer than allowed.",
                                   len(items)) % {"count": len(items), "overdue": overdue})

    def _print(self, file: Path, *, on: date, actor: str, no_progress: bool) -> None:
        # Written beside the file and renamed once the letters are marked posted: the file
        # appears only if they were, and they are marked only if it could be written.
        partial = file.with_name(f".{file.name}.partial")
        progress = ProgressBar(enabled=not no_progress, desc=_("printing"), unit=_("letters"))

        try:
            posted = dispatch.print_and_post(on=on, actor=actor, save=partial.write_bytes,
                                             progress=progress)
        except (outbox.OutboxError, letters.LetterPdfError) as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(str(exc)) from None
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(_("%(file)s could not be written (%(error)s); no letter was "
                                 "marked posted.") % {"file": file, "error": exc.strerror or exc}
                               ) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            progress.close()
        if posted:
            access_log.record(kind=AccessKind.EXPORT, target=str(file), actor=actor,
                              order_ids=selectors.order_ids_of(messages=posted),
                              via="print-queue --pdf")
        if not posted:
            self.stdout.write(_("The print queue is empty; no file was written."))
            return
        try:
            partial.replace(file)
        except OSError as exc:  # posted already: the PDF must not be lost
            raise CommandError(_("The letters were marked posted, but the PDF could not be "
                                 "renamed to %(file)s (%(error)s); it is %(partial)s.")
                               % {"file": file, "error": exc.strerror or exc,
                                  "partial": partial}) from None
        self.stdout.write(ngettext(
            "%(count)d letter written to %(file)s and marked posted on %(date)s.",
            "%(count)d letters written to %(file)s and marked posted on %(date)s.",
            len(posted)) % {"count": len(posted), "file": file, "date": on.isoformat()})
