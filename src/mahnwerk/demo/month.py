"""A month of the process played on the demo marketplace, through the real services.

Three dunning runs two weeks apart; between them some buyers pay after their first letter and
some order again; direct-collection vendors mark their orders; the bank's statement brings a
transfer quoting a letter's reference (its case paid) and a credit nobody can place (left for
support under Bankauszüge); escalated cases are put before their vendors, who approve or cancel;
one vendor's handover file is written; the agency's report brings one case to paid. E-mail goes
to the embedded mail folder (var/mail). Demo tooling only: every step is a call of the same
services the CLI, the workspace and the schedule use.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mahnwerk.banking import camt
from mahnwerk.banking import services as banking
from mahnwerk.cases.claims import half_year_start, next_half_year
from mahnwerk.cases.models import DebtCase, EventKind
from mahnwerk.cases.services import change_case
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import approvals, handover_format, reports
from mahnwerk.collection import services as collection
from mahnwerk.collection.models import CollectionPartner, Handover
from mahnwerk.demo import reasons as history_reasons
from mahnwerk.dunning import delivery, dispatch, outbox
from mahnwerk.dunning import selectors as dunning_selectors
from mahnwerk.dunning import services as dunning
from mahnwerk.dunning.models import (
    BaseRate,
    Channel,
    DefaultStart,
    DeliveryStatus,
    DirectSelection,
    DunningLevel,
    DunningPolicy,
    DunningRun,
    Letter,
    OutboxMessage,
)
from mahnwerk.formats import format_day
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.models import CollectionMode, DunningBy, Order
from mahnwerk.intake.services import apply_records, check_references
from mahnwerk.reasons import Reason, date_param

BERLIN = ZoneInfo("Europe/Berlin")
ACTOR = "demo"


def _at(day: date) -> str:
    return datetime.combine(day, time(10, 0), tzinfo=BERLIN).isoformat()


def _send(feed_name: str, raw: list[dict[str, str]]) -> None:
    feed = FEEDS[feed_name]
    records = []
    for item in raw:
        record, problems = feed.parse(item)
        if not problems:
            records.append(record)
    good = [r for r, p in zip(records, check_references(feed=feed, records=records),
                              strict=True) if not p]
    apply_records(feed=feed, records=good, actor=ACTOR)


def play_month(*, as_of: date, seed: int, say: Callable[[str], None]) -> bool:
    """Play the month before ``as_of``; False if a run exists already (nothing is repeated)."""
    if DunningRun.objects.exists():
        return False
    rng = random.Random(seed)
    first, second, third = as_of - timedelta(days=30), as_of - timedelta(days=16), \
        as_of - timedelta(days=2)
    history(as_of=as_of, rng=random.Random(seed + 1), say=say)
    charging = _charging_vendor(as_of=as_of, say=say)

    for vendor_id in (DebtCase.objects.filter(vendor__collection_mode=CollectionMode.DIRECT)
                      .values_list("vendor_id", flat=True).distinct()):
        dunning.request_direct_selection(vendor_id=vendor_id, as_of=first)
        pending = list(DirectSelection.objects.filter(vendor_id=vendor_id, pursue__isnull=True)
                       .select_related("case"))
        choices = {s.case.order_id: rng.random() < 0.7 for s in pending}
        if choices:
            dunning.answer_direct_selection(vendor_id=vendor_id, choices=choices,
                                            actor=f"portal:{vendor_id}")
    run = dunning.run_month(as_of=first, actor=ACTOR)
    say(_run_line(run))
    delivery.deliver_due()
    bounced = (OutboxMessage.objects.filter(status=DeliveryStatus.SENT, channel=Channel.EMAIL)
               .exclude(message_id="").order_by("-pk").first())
    if bounced is not None:  # as a mail provider's webhook reports it
        dispatch.record_bounce(message_id=bounced.message_id,
                             reason="550 5.1.1 Postfach existiert nicht")
        say(_("the letter to %(to)s bounced: case %(order)s waits until it goes by post")
            % {"to": bounced.to_address, "order": bounced.case.order_id})

    _print_late(min(first + timedelta(days=4), timezone.localdate()), say=say)

    dunned = list(DebtCase.objects.filter(state=CaseState.DUNNING, order__buyer_email__gt="")
                  .order_by("order_id"))
    rng.shuffle(dunned)
    payers, reorderers = dunned[:max(1, len(dunned) // 8)], dunned[len(dunned) // 8:][:3]
    _send("payments", [{"payment_id": f"DEMO-PAY-{c.order_id}", "order_id": c.order_id,
                        "amount": str(c.open_amount), "currency": c.currency,
                        "paid_at": _at(first + timedelta(days=5)), "channel": "offer_link"}
                       for c in payers])
    say(ngettext("%(count)d buyer paid after the first letter",
                 "%(count)d buyers paid after their first letter", len(payers))
        % {"count": len(payers)})
    originals = {o.pk: o for o in Order.objects.filter(pk__in=[c.order_id for c in reorderers])}
    _send("orders", [{
        "order_id": f"DEMO-RE-{c.order_id}", "vendor_id": o.vendor_id,
        "product_id": o.product_id, "buyer_id": o.buyer_id, "buyer_email": o.buyer_email,
        "buyer_first_name": o.buyer_first_name, "buyer_last_name": o.buyer_last_name,
        "street": o.street, "house_number": o.house_number, "postcode": o.postcode,
        "city": o.city, "country": o.country, "payment_type": o.payment_type,
        "amount_total": str(o.amount_total), "currency": o.currency,
        "created_at": _at(first + timedelta(days=6)), "sales_agent": "",
        "first_invoice_number": ""} for c in reorderers if (o := originals.get(c.order_id))])
    say(ngettext("%(count)d buyer ordered again", "%(count)d buyers ordered again",
                 len(reorderers)) % {"count": len(reorderers)})
    _debt_comes_back(payers[0], on=first + timedelta(days=7), say=say)
    _address_corrected(on=first + timedelta(days=8), say=say)

    run = dunning.run_month(as_of=second, actor=ACTOR)
    say(_run_line(run))
    delivery.deliver_due()
    _show_charged_letter(charging, say=say)
    run = dunning.run_month(as_of=third, actor=ACTOR)
    say(_run_line(run))
    delivery.deliver_due()

    _bank_statement(on=third + timedelta(days=1), say=say)

    # As the schedule's approvals task does, the day of run #3; the vendors answer the day
    # after, and the handover file goes that day too (the timelines carry those days).
    asked = approvals.request_approvals(actor=ACTOR, effective=third)
    answered = third + timedelta(days=1)
    waiting = list(DebtCase.objects.filter(state=CaseState.ON_HOLD).order_by("order_id"))
    for index, case in enumerate(waiting):
        if index % 3 == 0:
            approvals.decide_approval(case=case, approve=True, actor=f"portal:{case.vendor_id}",
                                      effective=answered)
        elif index % 7 == 1:
            approvals.decide_approval(case=case, approve=False,
                                      actor=f"portal:{case.vendor_id}",
                                      reason="Kunde hat sich beim Vendor gemeldet",
                                      effective=answered)
    say(_("approval asked of %(vendors)s; %(cases)s") % {
        "vendors": ngettext("%(count)d vendor", "%(count)d vendors", len(asked))
        % {"count": len(asked)},
        "cases": ngettext("%(count)d case was waiting", "%(count)d cases were waiting",
                          len(waiting)) % {"count": len(waiting)}})

    ready = (DebtCase.objects.filter(state=CaseState.APPROVED).values_list("vendor_id", flat=True)
             .order_by("vendor_id").first())
    if ready:
        result = collection.export_handover(vendor_id=ready, actor=ACTOR, effective=answered)
        folder = Path(settings.VAR_DIR) / "handover"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / result.handover.file_name).write_bytes(bytes(result.handover.content))
        say(ngettext("handover file %(path)s: %(count)d case handed over",
                     "handover file %(path)s: %(count)d cases handed over",
                     len(result.handed_over))
            % {"path": folder / result.handover.file_name, "count": len(result.handed_over)})
        report = handover_format.check_file(folder / result.handover.file_name)
        say(_("the validator (mahnwerk check-handover) finds %(problems)s in %(rows)s") % {
            "problems": ngettext("%(count)d problem", "%(count)d problems",
                                 len(report.problems)) % {"count": len(report.problems)},
            "rows": ngettext("%(count)d row", "%(count)d rows", report.rows)
            % {"count": report.rows}})
        if result.handed_over:
            followed = _agency_report(result.handover, as_of=as_of, say=say)
            say(_("follow order %(order)s in the workspace: first and second letter, the "
                  "vendor's approval, the handover file, the agency's report, paid")
                % {"order": followed})
    return True


#: The creditor's account the demo's statement is of (a test IBAN with a valid check digit).
DEMO_IBAN = "DE02120300000000202051"


def _bank_statement(*, on: date, say: Callable[[str], None]) -> None:
    """The bank's statement of the day after run #3: a buyer who got a paper letter transfers
    the open amount quoting the letter's reference (typed in lower case, without the dashes),
    and someone transfers money without any reference nobody can place."""
    case = (DebtCase.objects.filter(state=CaseState.DUNNING).exclude(first_invoice_number="")
            .order_by("order_id").first())
    if case is None:
        return
    bookings = [
        {"amount": str(case.total_owed), "name": f"{case.buyer_first_name} "
                                                  f"{case.buyer_last_name}",
         "text": f"{case.order_id} {case.first_invoice_number}".lower().replace("-", " ")},
        {"amount": "47.11", "name": "Unbekannt GmbH", "text": "Zahlung lt. Vereinbarung"},
    ]
    folder = Path(settings.VAR_DIR) / "bank"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"kontoauszug-{on:%Y-%m-%d}.xml"
    path.write_bytes(camt.write(statement_id=f"DEMO-{on:%Y%m%d}", account=DEMO_IBAN,
                                bookings=bookings, day=on))
    report = banking.import_statement(data=path.read_bytes(), name=path.name, actor=ACTOR)
    case.refresh_from_db()
    say(_("bank statement %(name)s: the transfer for order %(order)s matched its case (now "
          "%(state)s); %(open)s left for support under Bankauszüge")
        % {"name": path.name, "order": case.order_id, "state": case.get_state_display(),
           "open": ngettext("%(count)d credit", "%(count)d credits",
                            report.counts["unmatched"]) % {"count": report.counts["unmatched"]}})


#: The demo's vendor whose policy charges fees and interest (issue 11): the levels as the
#: standard policy's, the second letter costing its actual cost.
CHARGING_FEE = Decimal("2.50")
ASSUMED = "Demo: angenommen wie das Halbjahr davor, nicht geprüft"


def _charging_vendor(*, as_of: date, say: Callable[[str], None]) -> str | None:
    """One in-house vendor gets a policy with fees and interest switched on; the base-rate
    table is continued to the demo's half-year with the last published rate, marked as
    assumed (the data migration enters only the rates that were checked)."""
    vendor_id = (DebtCase.objects.filter(vendor__dunning_by=DunningBy.IN_HOUSE,
                                         vendor__collection_mode=CollectionMode.APPROVAL,
                                         state=CaseState.OPEN)
                 .order_by("vendor_id").values_list("vendor_id", flat=True).first())
    if vendor_id is None or DunningPolicy.objects.filter(vendor_id=vendor_id).exists():
        return None
    last = BaseRate.objects.order_by("-valid_from").first()
    while last is not None and last.valid_from < half_year_start(as_of):
        last = BaseRate.objects.create(valid_from=next_half_year(last.valid_from),
                                       rate=last.rate, source=ASSUMED)
        say(_("base rate from %(day)s assumed as %(rate)s %% (demo; not verified)")
            % {"day": format_day(last.valid_from), "rate": last.rate})
    standard = DunningPolicy.objects.prefetch_related("levels").get(vendor__isnull=True)
    policy = DunningPolicy.objects.create(
        name=f"Gebühren und Zinsen ({vendor_id})", vendor_id=vendor_id,
        run_day=standard.run_day, escalate_after_days=standard.escalate_after_days,
        minimum_amount=standard.minimum_amount, payment_days=standard.payment_days,
        offer_valid_days=standard.offer_valid_days, interest_enabled=True, fees_enabled=True,
        # the run two weeks after the first letter: in default since the day after it left
        default_starts=DefaultStart.AFTER_LETTER)
    for level in standard.levels.all():
        copy = DunningLevel(policy=policy, number=level.number, name=level.name,
                            days_after_previous=level.days_after_previous,
                            template=level.template, handover_column=level.handover_column,
                            fee=CHARGING_FEE if level.number > 1 else Decimal("0.00"))
        copy.full_clean()
        copy.save()
    say(_("vendor %(vendor)s charges dunning fees (%(fee)s from the second letter) and "
          "default interest (base rate + 5 points)") % {"vendor": vendor_id,
                                                         "fee": CHARGING_FEE})
    return vendor_id


def _show_charged_letter(vendor_id: str | None, *, say: Callable[[str], None]) -> None:
    letter = (Letter.objects.filter(case__vendor_id=vendor_id, level=2, fees__gt=0)
              .order_by("case__order_id").first()) if vendor_id else None
    if letter is not None:
        say(_("order %(order)s: its second letter shows principal %(principal)s, fees "
              "%(fees)s and interest %(interest)s apart") % {
            "order": letter.case.order_id, "principal": letter.principal,
            "fees": letter.fees, "interest": letter.interest})


def _print_late(on: date, *, say: Callable[[str], None]) -> None:
    """The print shop posts one paper letter four days after its run: it is dated that day and
    the buyer gets the full period to pay from it; the other paper letters wait (and are
    flagged once they wait longer than the policy allows)."""
    waiting = list(outbox.print_queue())
    if not waiting or on < waiting[0].letter.letter_date:  # a demo month in the future
        return
    dispatch.post_letters(messages=waiting[:1], on=on, actor="druckerei")
    letter = waiting[0].letter
    letter.refresh_from_db()
    still = len(waiting) - 1
    say(_("a paper letter to order %(order)s was posted late, on %(on)s: dated that day, to be "
          "paid by %(deadline)s; %(waiting)s") % {
        "order": waiting[0].case.order_id, "on": format_day(on),
        "deadline": format_day(letter.deadline),
        "waiting": ngettext("%(count)d paper letter still waits for the print shop",
                            "%(count)d paper letters still wait for the print shop", still)
        % {"count": still}})


def _debt_comes_back(case: DebtCase, *, on: date, say: Callable[[str], None]) -> None:
    """A buyer who paid after the first letter has the payment charged back: the case opens
    again as a new dunning cycle, which starts at the first letter."""
    case.refresh_from_db()
    _send("incidents", [{"incident_id": f"DEMO-BACK-{case.order_id}", "order_id": case.order_id,
                         "kind": "one_time_chargeback", "occurred_at": _at(on),
                         "open_amount": str(case.order.amount_total), "currency": case.currency}])
    case.refresh_from_db()
    say(_("the payment of order %(order)s was charged back: dunning cycle %(cycle)d starts "
          "at the first letter") % {"order": case.order_id, "cycle": case.cycle})


def _address_corrected(*, on: date, say: Callable[[str], None]) -> None:
    """A buyer whose address was incomplete gives a complete one on a later order (of another
    product, so it is no reorder): the case's address flag follows it."""
    case = (DebtCase.objects.filter(invalid_address_computed=True,
                                    state__in=[CaseState.OPEN, CaseState.DUNNING])
            .select_related("order").order_by("order_id").first())
    if case is None:
        return
    o = case.order
    product = o.vendor.products.exclude(pk=o.product_id).order_by("pk").first()
    if product is None:
        return
    _send("orders", [{
        "order_id": f"DEMO-ADR-{o.order_id}", "vendor_id": o.vendor_id,
        "product_id": product.pk, "buyer_id": o.buyer_id, "buyer_email": o.buyer_email,
        "buyer_first_name": o.buyer_first_name, "buyer_last_name": o.buyer_last_name,
        "street": "Hohe Straße", "house_number": "12", "postcode": "50667", "city": "Köln",
        "country": "DE", "payment_type": "one_time", "amount_total": "49.00",
        "currency": o.currency, "created_at": _at(on), "sales_agent": "",
        "first_invoice_number": ""}])
    case.refresh_from_db()
    say(_("order %(order)s: the buyer gave a complete address on a later order; the case's "
          "address flag is now %(flag)s") % {
        "order": o.order_id,
        "flag": _("invalid") if case.invalid_address else _("valid")})


def _run_line(run: DunningRun) -> str:
    return _("run #%(run)d as of %(date)s: %(counts)s") % {
        "run": run.pk, "date": format_day(run.as_of),
        "counts": dunning_selectors.describe_counts(run.counts)}


def _agency_report(handover: Handover, *, as_of: date, say: Callable[[str], None]) -> str:
    """The agency's report on the handed-over cases: the first one paid in full; returns
    its order id."""
    cases = list(DebtCase.objects.filter(order_id__in=handover.items.filter(
        handed_over=True).values_list("case__order_id", flat=True)).order_by("order_id"))
    path = Path(settings.VAR_DIR) / "handover" / f"diagonal-bericht-{as_of:%Y-%m}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(reports.COLUMNS)
        for index, case in enumerate(cases):
            paid = index == 0
            writer.writerow([case.order_id, f"AZ-{index + 1:05d}", as_of.isoformat(),
                             "paid" if paid else "open",
                             str(case.total_owed) if paid else "0.00",
                             as_of.isoformat() if paid else "",
                             "Schuldner hat vollständig gezahlt" if paid else ""])
    partner = handover.partner or CollectionPartner.objects.get(name="Diagonal")
    result = reports.import_report(path=path, partner=partner, actor=ACTOR)
    say(ngettext("agency report %(name)s: %(count)d row applied",
                 "agency report %(name)s: %(count)d rows applied", result.applied)
        % {"name": path.name, "count": result.applied})
    return cases[0].order_id


#: How many old debts the demo's earlier months carry through the routes.
HISTORY_CASES = 240


def history(*, as_of: date, rng: random.Random, say: Callable[[str], None]) -> int:
    """The months before the one played, summarised: old debts of earlier buyers (orders
    five to seven months before ``as_of``, sent in as the platform sends orders and
    incidents) went through the routes (first letter, second letter, the
    vendor's approval, the agency or back to the vendor) and some were paid on the way, so
    the route economics on the Übersicht have history to read. Each step through the real
    services (``change_case``, the vendor's decision, the platform's payments feed); the
    letters of those months are summarised on the timeline, not kept as letters."""
    old = _history_cases(as_of=as_of, rng=rng)
    partner = CollectionPartner.objects.get(name="Diagonal")
    last = as_of - timedelta(days=1)
    payments: list[dict[str, str]] = []
    for case in old:
        start = timezone.localtime(case.opened_at).date() + timedelta(days=rng.randint(3, 6))
        second, asked = start + timedelta(days=14), start + timedelta(days=21)
        decided, taken = asked + timedelta(days=2), asked + timedelta(days=7)

        def paid(low: date, high: date, channel: str, case: DebtCase = case) -> None:
            day = low + timedelta(days=rng.randint(0, max(0, (min(high, last) - low).days)))
            payments.append({"payment_id": f"DEMO-HIST-{case.order_id}",
                             "order_id": case.order_id, "amount": str(case.open_amount),
                             "currency": case.currency, "paid_at": _at(day),
                             "channel": channel})

        change_case(case=case, actor=ACTOR, kind=EventKind.LETTER, to_state=CaseState.DUNNING,
                    changes={"first_dunning_letter": start}, effective=start,
                    reason=Reason(history_reasons.HISTORY_LETTER, {"level": 1}))
        if rng.random() < 0.25:
            paid(start + timedelta(days=2), second - timedelta(days=1), "offer_link")
            continue
        change_case(case=case, actor=ACTOR, kind=EventKind.LETTER,
                    changes={"second_dunning_letter": second}, effective=second,
                    reason=Reason(history_reasons.HISTORY_LETTER, {"level": 2}))
        if rng.random() < 0.25:
            paid(second + timedelta(days=2), asked - timedelta(days=1), "other")
            continue
        change_case(case=case, actor=ACTOR, kind=EventKind.COLLECTION,
                    to_state=CaseState.ON_HOLD, effective=asked,
                    reason=Reason(history_reasons.HISTORY_ESCALATED, {}))
        approve = rng.random() < 0.5
        approvals.decide_approval(case=case, approve=approve, actor=f"portal:{case.vendor_id}",
                                  effective=decided)
        if not approve:  # the vendor pursues it itself
            if rng.random() < 0.35:
                paid(decided + timedelta(days=5), last, "vendor")
            continue
        change_case(case=case, actor=ACTOR, kind=EventKind.COLLECTION,
                    to_state=CaseState.SENT_FOR_COLLECTION, changes={"incasso_date": taken},
                    effective=taken, reason=Reason(history_reasons.HISTORY_HANDED_OVER, {
                        "partner": partner.name, "date": date_param(taken)}))
        if rng.random() < 0.45:
            paid(taken + timedelta(days=5), last, "agency")
    _send("payments", payments)
    say(ngettext("the earlier months: %(count)d old debt went through the routes, "
                 "%(paid)d of them paid on the way",
                 "the earlier months: %(count)d old debts went through the routes, "
                 "%(paid)d of them paid on the way", len(old))
        % {"count": len(old), "paid": len(payments)})
    return len(old)


def _history_cases(*, as_of: date, rng: random.Random) -> list[DebtCase]:
    """``HISTORY_CASES`` orders of earlier buyers, modelled on the marketplace's own (vendor,
    product, amount, address), each with its debt a month after the order."""
    models = list(Order.objects.filter(debt_case__isnull=False).select_related("debt_case")
                  .order_by("order_id")[:HISTORY_CASES])
    orders, incidents = [], []
    for number, o in enumerate(models, start=1):
        created = as_of - timedelta(days=rng.randint(150, 210))
        order_id = f"DEMO-HIST-{number:04d}"
        orders.append({
            "order_id": order_id, "vendor_id": o.vendor_id, "product_id": o.product_id,
            "buyer_id": f"DEMO-HIST-B{number:04d}",
            "buyer_email": f"historie{number}@kunden.example", "buyer_first_name":
            o.buyer_first_name, "buyer_last_name": o.buyer_last_name, "street": o.street,
            "house_number": o.house_number, "postcode": o.postcode, "city": o.city,
            "country": o.country, "payment_type": o.payment_type,
            "amount_total": str(o.amount_total), "currency": o.currency,
            "created_at": _at(created), "sales_agent": "", "first_invoice_number": ""})
        incidents.append({
            "incident_id": f"DEMO-HIST-I{number:04d}", "order_id": order_id,
            "kind": o.debt_case.trigger, "occurred_at": _at(created + timedelta(days=30)),
            "open_amount": str(o.debt_case.open_amount or o.amount_total),
            "currency": o.currency})
    _send("orders", orders)
    _send("incidents", incidents)
    return list(DebtCase.objects.filter(order__order_id__startswith="DEMO-HIST-",
                                        state=CaseState.OPEN)
                .select_related("order").order_by("order_id"))
