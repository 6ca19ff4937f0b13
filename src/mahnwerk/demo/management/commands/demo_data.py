"""``mahnwerk demo-data [--vendors N] [--orders N] [--seed S] [--as-of YYYY-MM-DD]``"""

import argparse
import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from tqdm import tqdm

from mahnwerk.cases.selectors import count_by_state
from mahnwerk.cases.states import CaseState
from mahnwerk.demo import marketplace as demo
from mahnwerk.demo.month import play_month
from mahnwerk.web.accounts import ensure_demo_users


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("not a date; write it like 2026-11-01")) from None


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(_("not a whole number of 1 or more"))
    return int(value)


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(_("not a whole number of 0 or more"))
    return int(value)


class Command(BaseCommand):
    help = _("Write a made-up marketplace (vendors, products, orders, incidents, payments) "
             "through the intake, as the platform would send it, and make the demo logins. "
             "The same seed gives the same data; running it again changes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--vendors", type=_positive, default=12,
                            help=_("how many vendors (default 12)"))
        parser.add_argument("--orders", type=_count, default=3000,
                            help=_("how many orders (default 3000)"))
        parser.add_argument("--seed", type=int, default=42,
                            help=_("the seed: the same seed gives the same data (default 42)"))
        parser.add_argument("--as-of", type=_day, default=demo.DEFAULT_AS_OF,
                            help=_("the day the data ends; orders lie in the six months "
                                   "before it (default 2026-11-01)"))
        parser.add_argument("--batch-size", type=_positive, default=500)
        parser.add_argument("--no-users", action="store_true",
                            help=_("do not make the demo logins"))
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument("--no-month", action="store_true",
                            help=_("only the platform's data: no dunning runs, approvals, "
                                   "handover or agency report"))

    def handle(self, *args, vendors, orders, seed, as_of, batch_size, no_users, no_progress,
               no_month, **options):
        data = demo.generate(vendors=vendors, orders=orders, seed=seed, as_of=as_of)
        total = sum(len(rows) for rows in data.values())
        with tqdm(total=total, desc="demo-data", unit="rec", file=sys.stderr,
                  disable=True if no_progress else None, leave=False) as bar:
            try:
                results = demo.write_demo_data(data=data, batch_size=batch_size,
                                               progress=bar.update)
            except demo.DemoDataError as exc:
                raise CommandError(str(exc)) from None

        for name in demo.FEED_ORDER:
            result = results[name]
            self.stdout.write(
                ngettext("%(feed)s: %(rows)d record; %(created)d new, %(updated)d changed, "
                         "%(unchanged)d unchanged.",
                         "%(feed)s: %(rows)d records; %(created)d new, %(updated)d changed, "
                         "%(unchanged)d unchanged.", len(data[name])) % {
                    "feed": name, "rows": len(data[name]), "created": result.created,
                    "updated": result.updated, "unchanged": result.unchanged})
        self.stdout.write(_("Cases by state:"))
        counts = count_by_state()
        for state in CaseState:
            if counts.get(state.value):
                self.stdout.write(f"  {state.label}: {counts[state.value]}")
        self.stdout.write(f"  {_('total')}: {sum(counts.values())}")

        if not no_month:
            self.stdout.write(_("A month of the process:"))
            if not play_month(as_of=as_of, seed=seed,
                              say=lambda line: self.stdout.write(f"  {line}")):
                self.stdout.write("  " + _("played before; nothing repeated."))
            counts = count_by_state()
            self.stdout.write(_("Cases by state:"))
            for state in CaseState:
                if counts.get(state.value):
                    self.stdout.write(f"  {state.label}: {counts[state.value]}")
        if no_users:
            return
        users = ensure_demo_users(vendor_id=data["vendors"][0]["vendor_id"])
        self.stdout.write(_("Demo logins (user / password / role):"))
        for user in users:
            line = f"  {user.username} / {user.password} / {user.role}"
            if user.vendor_id:
                line += f" ({user.vendor_id})"
            self.stdout.write(line)
