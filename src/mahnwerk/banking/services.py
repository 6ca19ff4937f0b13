"""Reading a bank statement and booking what it matches; support's decisions on the rest.

``import_statement`` is what ``mahnwerk import-bank-statement`` and the upload page call:

- the same file (SHA-256), or the same statement of the same account (its statement id), again
  changes nothing; a booking whose bank reference was read before (an overlapping statement) is
  kept as a duplicate and not applied again;
- the whole file is read before anything is written: a broken file applies nothing;
- a credit matched to a case becomes a payment on its order through the intake, as the
  platform's payments do (``intake.services.apply_records``): the case follows (its open amount,
  paid in full moves it to paid, the dunning stops and letters still in the outbox are
  cancelled), and the case's event names the statement and booking;
- a credit above what the case has open is applied up to the open amount and the rest listed for
  refund; a credit in another currency, a debit, a reference that fits two cases and a credit
  without a reference are listed with their reason and never applied;
- ``dry_run`` does all of it and rolls back: the report is what the import would do.

Support then assigns a listed credit to a case (the same booking), ignores it with a reason, or
records the refund of a surplus.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk import bulk, reasons, telemetry
from mahnwerk.banking import camt
from mahnwerk.banking import reasons as why
from mahnwerk.banking.camt import Entry, StatementError
from mahnwerk.banking.matching import CaseRow, Decision, Matcher
from mahnwerk.banking.models import BankStatement, LineState, MatchMethod, StatementLine
from mahnwerk.cases.models import DebtCase
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.models import PaymentChannel
from mahnwerk.intake.services import apply_records

ZERO = Decimal("0.00")
BATCH = 900

__all__ = ["BankError", "ImportReport", "StatementBusy", "StatementError", "assign_line",
           "ignore_line", "import_statement", "mark_refunded"]


class StatementBusy(StatementError):
    """Another import of the same statement (or of the same bookings) ran at the same moment
    and got there first; this one booked nothing."""


class BankError(Exception):
    """A decision on a statement line that cannot be made; the message says why."""


@dataclass
class ImportReport:
    file_name: str
    statement: BankStatement | None = None
    already_imported: bool = False
    dry_run: bool = False
    version: str = ""
    account: str = ""
    statement_id: str = ""
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    methods: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    applied: Decimal = ZERO
    surplus: Decimal = ZERO
    #: The lines for the report: (position, amount, currency, credit, state, order, reason).
    lines: list[dict[str, Any]] = field(default_factory=list)
    paid_in_full: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def load_matcher() -> Matcher:
    """Every case as the matcher needs it (a paid case too: a transfer to it is a surplus)."""
    rows = DebtCase.objects.values_list(
        "pk", "order_id", "first_invoice_number", "open_amount", "fees", "interest", "currency",
        "state", "buyer_last_name", "buyer_first_name").iterator(chunk_size=5000)
    # What the case has open is all it owes: principal, costs and interest (cases.claims).
    return Matcher(CaseRow(pk, order_id, invoice, principal + fees + interest, *rest)
                   for pk, order_id, invoice, principal, fees, interest, *rest in rows)


def payment_id(account: str, entry_key: str) -> str:
    """The payment's id on the order: the same booking always gives the same id."""
    digest = hashlib.blake2b(f"{account}\x1f{entry_key}".encode(), digest_size=12).hexdigest()
    return f"BANK-{digest}"


def _paid_day(entry_date: date | None) -> str:
    return (entry_date or timezone.localdate()).isoformat()


def _book(bookings: list[tuple[_Line | StatementLine, CaseRow]], *, statement: BankStatement,
          actor: str) -> None:
    """Payments for matched lines with money applied, through the intake: the cases follow."""
    feed = FEEDS["payments"]
    records = []
    sources: dict[str, dict[str, str]] = {}
    for line, case in bookings:
        record, problems = feed.parse({
            "payment_id": line.payment_id, "order_id": case.order_id,
            "amount": str(line.applied), "currency": case.currency,
            "paid_at": _paid_day(line.booking_date or line.value_date),
            "channel": PaymentChannel.OTHER.value})
        assert not problems, problems  # made here from checked values
        records.append(record)
        source = sources.setdefault(case.order_id, {"statement": statement.statement_id,
                                                    "entry": ""})
        source["entry"] = ", ".join(filter(None, (source["entry"], line.entry_key)))[:300]
    if records:
        apply_records(feed=feed, records=records, actor=actor, sources=sources)


def _settle(line: _Line | StatementLine, case: CaseRow, remaining: dict[int, Decimal]) -> None:
    """Apply up to what the case has open; the rest is listed for refund."""
    open_now = remaining.get(case.pk, case.open_amount)
    line.applied = min(line.amount, open_now)
    line.surplus = line.amount - line.applied
    remaining[case.pk] = open_now - line.applied
    if line.applied > 0:
        line.payment_id = payment_id(line.account, line.entry_key)
    if line.surplus > 0:
        line.reason_code = why.SURPLUS
        line.reason_params = {"surplus": reasons.money_param(line.surplus, line.currency),
                              "order": case.order_id,
                              "open": reasons.money_param(open_now, case.currency)}


@dataclass(slots=True)
class _Line:
    """A statement line as the import writes it: a plain row (100,000 model instances cost
    seconds), with the attributes ``_settle`` and ``_book`` share with ``StatementLine``."""

    statement_id: int
    position: int
    account: str
    entry_key: str
    booking_date: date | None
    value_date: date | None
    amount: Decimal
    currency: str
    credit: bool
    remitter_name: str
    remitter_iban: str
    remittance_text: str
    state: str
    method: str
    case_id: int | None
    suggested_case_id: int | None
    candidates: list[str]
    reason_code: str
    reason_params: dict[str, Any]
    applied: Decimal = ZERO
    surplus: Decimal = ZERO
    payment_id: str | None = None

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__} | {
            "refunded_at": None, "note": "", "decided_by": "", "decided_at": None}

    @property
    def reason(self) -> str:
        return reasons.Reason(self.reason_code, self.reason_params).render() \
            if self.reason_code else ""


def _line(entry: Entry, statement: BankStatement, decision: Decision) -> _Line:
    return _Line(
        statement_id=statement.pk, position=entry.position, account=entry.account,
        entry_key=entry.entry_key[:140], booking_date=entry.booking_date,
        value_date=entry.value_date, amount=entry.amount, currency=entry.currency,
        credit=entry.credit, remitter_name=entry.remitter_name[:140],
        remitter_iban=entry.remitter_iban[:34], remittance_text=entry.text[:1000],
        state=decision.state, method=decision.method,
        case_id=decision.case.pk if decision.case else None,
        suggested_case_id=decision.suggested.pk if decision.suggested else None,
        candidates=decision.candidates, reason_code=decision.reason_code,
        reason_params=decision.reason_params)


def _known_keys(entries: list[Entry]) -> dict[tuple[str, str], str]:
    """(account, bank reference) -> the file it was read from, for bookings read before."""
    known: dict[tuple[str, str], str] = {}
    by_account: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        by_account[entry.account].append(entry.entry_key)
    for account, keys in by_account.items():
        for start in range(0, len(keys), BATCH):
            for key, file_name in (StatementLine.objects.filter(
                    account=account, entry_key__in=keys[start:start + BATCH])
                    .exclude(state=LineState.DUPLICATE)
                    .values_list("entry_key", "statement__file_name")):
                known[(account, key)] = file_name
    return known


def import_statement(*, data: bytes, name: str, actor: str, dry_run: bool = False,
                     progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Read a camt.053 file and book what it matches (see the module's words); raises
    ``StatementError`` (a located message) for a file that cannot be read, before anything is
    written."""
    report = ImportReport(file_name=name, dry_run=dry_run)
    digest = hashlib.sha256(data).hexdigest()
    earlier = _earlier(digest=digest)
    if earlier is None:
        parsed = camt.parse(data, name=name)
        report.version, report.account = parsed.version, parsed.account
        report.statement_id = parsed.statement_id
        earlier = _earlier(digest=digest, account=parsed.account,
                           statement_id=parsed.statement_id)
    if earlier is not None:
        report.statement, report.already_imported = earlier, True
        report.version, report.account = earlier.version, earlier.account
        report.statement_id = earlier.statement_id
        return report
    try:
        report = _read(parsed, report=report, digest=digest, name=name, actor=actor,
                       dry_run=dry_run, progress=progress)
    except IntegrityError:
        # Two imports of one statement at the same moment: both found no earlier import, the
        # first inserted the statement (or its bookings), the unique constraints stop the
        # second (on PostgreSQL it waits for the first to commit, then fails here).
        raise StatementBusy(_(
            "%(file)s: this statement is being read or was read already (another import of "
            "the same statement or of the same bookings ran at the same moment); nothing was "
            "booked by this one. Look at the list of statements read; read the file again "
            "only if it is not there.") % {"file": name}) from None
    if not dry_run:
        telemetry.log.info("bank statement imported", file=name,
                           statement_id=report.statement_id,
                           lines={str(state): count for state, count in report.counts.items()},
                           paid_in_full=report.paid_in_full, applied=str(report.applied))
    return report


def _earlier(*, digest: str, account: str | None = None,
             statement_id: str | None = None) -> BankStatement | None:
    """The import of the same file, or (given) of the same statement of the same account."""
    if account is None:
        return BankStatement.objects.filter(sha256=digest).first()
    return BankStatement.objects.filter(account=account, statement_id=statement_id).first()


def _read(parsed: camt.Statement, *, report: ImportReport, digest: str, name: str, actor: str,
          dry_run: bool, progress: Callable[[int, int], None] | None) -> ImportReport:
    matcher = load_matcher()
    known = _known_keys(parsed.entries)
    total = len(parsed.entries)
    with bulk.long_lived_heap(), transaction.atomic():
        statement = BankStatement.objects.create(
            file_name=name[:255], sha256=digest, account=parsed.account,
            statement_id=parsed.statement_id, version=parsed.version, lines=total,
            imported_by=actor[:150])
        report.statement = statement
        remaining: dict[int, Decimal] = {}
        for start in range(0, total, BATCH):
            lines: list[_Line] = []
            bookings: list[tuple[_Line, CaseRow]] = []
            for entry in parsed.entries[start:start + BATCH]:
                earlier_file = known.get((entry.account, entry.entry_key))
                if earlier_file is not None:
                    decision = Decision(LineState.DUPLICATE, reason_code=why.DUPLICATE,
                                        reason_params={"file": earlier_file})
                else:
                    known[(entry.account, entry.entry_key)] = name
                    decision = matcher.decide(entry)
                line = _line(entry, statement, decision)
                if decision.case is not None and decision.state == LineState.MATCHED:
                    _settle(line, decision.case, remaining)
                    if line.applied > 0:
                        bookings.append((line, decision.case))
                        if remaining[decision.case.pk] == 0:
                            report.paid_in_full += 1
                    report.methods[decision.method] += 1
                    report.applied += line.applied
                    report.surplus += line.surplus
                report.counts[line.state] += 1
                lines.append(line)
                if len(report.lines) < 500:
                    report.lines.append({
                        "position": line.position, "amount": line.amount,
                        "currency": line.currency, "credit": line.credit,
                        "state": line.state, "state_label": LineState(line.state).label,
                        "order": decision.case.order_id if decision.case else "",
                        "text": line.remittance_text, "name": line.remitter_name,
                        "reason": line.reason})
            _book(bookings, statement=statement, actor=actor)
            bulk.insert_rows(StatementLine, [line.row() for line in lines])
            if progress is not None:
                progress(min(start + BATCH, total), total)
        if dry_run:
            transaction.set_rollback(True)
            report.statement = None
    return report


# -- Support's decisions on a listed line ------------------------------------------------------


def _decided(line: StatementLine, *, actor: str, note: str) -> None:
    line.note = note[:500]
    line.decided_by = actor[:150]
    line.decided_at = timezone.now()


@transaction.atomic
def assign_line(*, line: StatementLine, order_id: str, actor: str, note: str = "",
                user: AbstractBaseUser | None = None) -> StatementLine:
    """Support assigns a listed credit to a case: booked as the import books a match."""
    line = StatementLine.objects.select_for_update().select_related("statement").get(pk=line.pk)
    if line.state != LineState.UNMATCHED or not line.credit:
        raise BankError(_("Booking %(n)d of %(file)s is not open for assigning (it is "
                          "%(state)s).") % {"n": line.position, "file": line.statement.file_name,
                                            "state": LineState(line.state).label})
    case = DebtCase.objects.filter(order_id=order_id.strip()).first()
    if case is None:
        raise BankError(_("There is no case for order %(order)s.") % {"order": order_id})
    if case.currency != line.currency:
        raise BankError(_("The credit is in %(currency)s, case %(order)s in %(expected)s: it "
                          "cannot be applied.") % {"currency": line.currency,
                                                   "order": case.order_id,
                                                   "expected": case.currency})
    row = CaseRow(pk=case.pk, order_id=case.order_id, invoice=case.first_invoice_number,
                  open_amount=case.total_owed, currency=case.currency, state=case.state,
                  last_name=case.buyer_last_name, first_name=case.buyer_first_name)
    line.reason_code, line.reason_params = why.ASSIGNED, {"note": note}
    _settle(line, row, {})
    line.state, line.method, line.case = LineState.MATCHED, MatchMethod.SUPPORT, case
    _decided(line, actor=actor, note=note)
    if line.applied > 0:
        _book([(line, row)], statement=line.statement, actor=actor)
    line.save()
    return line


@transaction.atomic
def ignore_line(*, line: StatementLine, note: str, actor: str) -> StatementLine:
    """Support sets a listed credit aside, with the reason (sent back, not ours, ...)."""
    if not note.strip():
        raise BankError(_("Say why the booking is ignored."))
    line = StatementLine.objects.select_for_update().get(pk=line.pk)
    if line.state != LineState.UNMATCHED:
        raise BankError(_("This booking is not open any more."))
    line.state = LineState.IGNORED
    line.reason_code, line.reason_params = why.IGNORED, {"note": note.strip()}
    _decided(line, actor=actor, note=note.strip())
    line.save()
    return line


@transaction.atomic
def mark_refunded(*, line: StatementLine, note: str, actor: str) -> StatementLine:
    """Support paid a surplus back to the remitter."""
    line = StatementLine.objects.select_for_update().get(pk=line.pk)
    if line.surplus <= 0 or line.refunded_at is not None:
        raise BankError(_("There is nothing to refund on this booking."))
    line.refunded_at = timezone.now()
    _decided(line, actor=actor, note=note.strip() or line.note)
    line.save()
    return line


def summary(report: ImportReport) -> str:
    """The report in one sentence, for the command line and the page's message."""
    from mahnwerk.money import format_money

    currency = "EUR"
    counts = report.counts
    words = _("%(file)s (%(version)s, account %(account)s, statement %(statement)s): bookings: "
              "%(total)d; matched: %(matched)d (cases paid in full: %(paid)d, applied: "
              "%(applied)s); left for support: %(unmatched)d; not for us (debits, not booked): "
              "%(ignored)d; booked before: %(duplicate)d; to refund: %(surplus)s.") % {
        "file": report.file_name, "version": report.version, "account": report.account,
        "statement": report.statement_id, "total": report.total,
        "matched": counts[LineState.MATCHED], "paid": report.paid_in_full,
        "applied": format_money(report.applied, currency),
        "unmatched": counts[LineState.UNMATCHED], "ignored": counts[LineState.IGNORED],
        "duplicate": counts[LineState.DUPLICATE],
        "surplus": format_money(report.surplus, currency)}
    if report.dry_run:
        words = _("Dry run, nothing was booked: %(words)s") % {"words": words}
    return words
