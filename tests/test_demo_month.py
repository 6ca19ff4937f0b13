"""The demo shows a complete month of the process (issue 3 and 4, "Done when")."""

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import F

from mahnwerk.banking.models import StatementLine
from mahnwerk.cases.models import CaseEvent, DebtCase
from mahnwerk.collection import economics
from mahnwerk.collection.models import AgencyReport, Handover
from mahnwerk.dunning import letters
from mahnwerk.dunning.models import DunningRun, Letter, OutboxMessage, RunDecision
from mahnwerk.reasons import TEXT, is_registered
from tests.helpers import scan

pytestmark = pytest.mark.django_db


def test_the_demo_plays_a_month_through_letters_approval_handover_and_report(tmp_path):
    out = StringIO()
    # The demo's own size: the one `make demo` shows (its telephone orders reach the print
    # queue).
    call_command("demo_data", "--no-progress", "--no-users", stdout=out)
    states = set(DebtCase.objects.values_list("state", flat=True))
    # Issue 11: the earlier months took old debts through every route, enough of them for
    # the Übersicht to give each route a rate rather than "too few cases".
    found = economics.route_statistics()
    for route in economics.ROUTES:
        assert found.observed(route).rate() is not None, route
        assert found.observed(route).recovered, route
        assert found.observed(route).median_days is not None, route
    assert DunningRun.objects.filter(state="done").count() == 3
    assert Letter.objects.filter(level=1).exists() and Letter.objects.filter(level=2).exists()
    assert {"dunning", "reopened", "paid"} <= states
    assert states & {"on_hold", "approved", "sent_for_collection"}
    assert DebtCase.objects.filter(pursue=False).exists()
    assert DebtCase.objects.filter(pursue=True).exists()
    assert DebtCase.objects.filter(state="paid", first_dunning_letter__isnull=False).exists()
    assert OutboxMessage.objects.exclude(status="queued").exists()
    assert Handover.objects.exists() == AgencyReport.objects.exists()
    bounced = OutboxMessage.objects.get(status="bounced")
    held = bounced.case.decisions.filter(run__as_of__gt=bounced.letter.letter_date)
    assert held and all("per Post" in d.reason for d in held), "held until it goes by post"
    # Issue 8: a paper letter posted late (dated that day), a debt that came back and is dunned
    # again from the first letter, an address corrected by a later order.
    late = Letter.objects.get(outbox__status="printed", dispatched_on__gt=F("run__as_of"))
    assert late.letter_date == late.dispatched_on
    assert late.deadline == late.dispatched_on + timedelta(days=14)
    back = DebtCase.objects.get(cycle=2)
    assert back.letters.filter(cycle=2, level=1).exists(), "dunned again from the first letter"
    assert back.letters.filter(cycle=1).exists(), "the earlier cycle's letters stay"
    corrected = DebtCase.objects.get(order__buyer__orders__order_id__startswith="DEMO-ADR-")
    assert not corrected.invalid_address and corrected.events.filter(kind="address").exists()
    # Issue 10: the timelines carry the business dates of the facts (incidents, payments, the
    # runs' dates, the day a letter left), spread over the demo's months, not the moment the
    # demo was built.
    dated = CaseEvent.objects.exclude(effective_on=None)
    assert len({(d.year, d.month) for d in dated.values_list("effective_on", flat=True)}) >= 5
    assert set(DunningRun.objects.values_list("as_of", flat=True)) <= set(
        dated.filter(kind="letter").values_list("effective_on", flat=True))
    assert dated.filter(kind="letter", effective_on=late.dispatched_on).exists()
    # The tour's case and the debt that came back read in order: each line's day is not
    # before the one recorded ahead of it (letters, approval, handover, takeover, payment).
    followed = DebtCase.objects.get(state="paid", incasso_date__isnull=False,
                                    handover_items__handed_over=True)
    for case in (followed, back):
        days = [e.business_date for e in case.events.order_by("at", "id")]
        assert days == sorted(days), (case.order_id, days)
    # Issue 11: the bank's statement of the month: a transfer quoting a letter's reference
    # (typed in lower case, without dashes) pays its case; a credit nobody can place waits for
    # support.
    transfer = StatementLine.objects.get(state="matched")
    assert transfer.method == "tolerant" and transfer.case.state == "paid"
    assert transfer.case.events.filter(code="case.paid_by_transfer").exists()
    assert StatementLine.objects.get(state="unmatched").remitter_name == "Unbekannt GmbH"
    assert "Kontoauszug kontoauszug-" in out.getvalue()
    # Stored facts, words at reading time: what the system wrote is a registered code, no text.
    stored = (set(CaseEvent.objects.values_list("code", flat=True))
              | set(RunDecision.objects.values_list("code", flat=True))
              | set(RunDecision.objects.exclude(outcome_code="")
                    .values_list("outcome_code", flat=True)))
    assert all(is_registered(code) for code in stored) and TEXT not in stored, stored
    # Issue 11: a demo letter on paper carries its short link and a GiroCode to the demo's
    # example account, both read from the page as a phone would.
    printed = Letter.objects.filter(outbox__status="printed").order_by("pk").first()
    codes = scan(letters.render_pdf(printed), tmp_path)
    assert [code.split("/z/")[0] for code in codes if "/z/" in code] == [
        settings.MAHNWERK_SITE_URL.rstrip("/")]
    giro = [code.split("\n") for code in codes if code.startswith("BCD")]
    assert len(giro) == 1 and giro[0][6] == settings.DEMO_IBAN
    again = StringIO()
    call_command("demo_data", "--no-progress", "--no-users", stdout=again)
    assert DunningRun.objects.count() == 3
