"""Issue 11's promise, end to end: a buyer without e-mail gets the letter on paper, points the
banking app's camera at its GiroCode, the app fills in the transfer, the bank's next statement
lists the credit, support reads the statement in the workspace, and the case is paid: no
further letter, no handover.

The letter is the one the monthly run prints; the GiroCode is read from the rendered page as a
phone reads it (pdftoppm, zbarimg); the transfer carries exactly what the code says (amount,
IBAN, reference), as a banking app sends it; the statement is camt.053 as the bank writes it.
"""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mahnwerk.banking.models import StatementLine
from mahnwerk.cases.models import DebtCase
from mahnwerk.dunning import dispatch, letters, services
from mahnwerk.dunning.models import Letter, OutboxMessage
from mahnwerk.web.accounts import ensure_demo_users
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, scan
from tests.test_bank_statements import entry, statement
from tests.test_paylink import ACCOUNT, epc

pytestmark = pytest.mark.django_db


@pytest.fixture
def paper_letter(settings):
    settings.MAHNWERK_SITE_URL = "https://zahlung.checkout.example"
    settings.MAHNWERK_CREDITOR_ACCOUNT = ACCOUNT
    vendor = VendorFactory(vendor_id="VPAPIER", name="Akademie Papier")
    order = OrderFactory(order_id="O-PAPIER-7", first_invoice_number="RE-2026-0777",
                         product=ProductFactory(vendor=vendor, checkout_url=""),
                         buyer_email="", buyer_first_name="Erika", buyer_last_name="Zänker",
                         street="Heidestraße", house_number="17", postcode="51147", city="Köln")
    incident(order, open_amount="249.00", at=datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN))
    services.run_month(as_of=date(2026, 10, 1), actor="test")
    message = OutboxMessage.objects.get(case__order_id="O-PAPIER-7")
    assert message.channel == "print", "a buyer without e-mail gets paper"
    dispatch.mark_printed(message=message, actor="support", on=date(2026, 10, 2))
    ensure_demo_users(vendor_id=vendor.pk)
    return Letter.objects.get(case__order_id="O-PAPIER-7")


def test_a_buyer_pays_the_paper_letter_with_the_banking_apps_camera_and_the_next_statement_closes_the_case(  # noqa: E501
        paper_letter, client, tmp_path):
    codes = scan(letters.render_pdf(paper_letter), tmp_path)
    giro = epc(next(code for code in codes if code.startswith("BCD")))
    assert giro["iban"] == ACCOUNT["iban"] and giro["amount"] == "EUR249"

    # The banking app sends what the code says; the bank lists it on the next statement,
    # the remitter's name as her bank spells it.
    credit = entry(giro["amount"].removeprefix("EUR"), giro["text"], ref="APP-1",
                   name="ERIKA ZAENKER")
    upload = SimpleUploadedFile("auszug-2026-10-09.xml", statement(credit, account=ACCOUNT["iban"]),
                                content_type="application/xml")
    client.force_login(ensure_support())
    page = client.post(reverse("web:bank"), {"file": upload}, follow=True)
    assert page.status_code == 200
    assert "1" in page.content.decode()

    case = DebtCase.objects.get(order_id="O-PAPIER-7")
    assert case.state == "paid" and case.open_amount == Decimal("0.00")
    line = StatementLine.objects.get()
    assert (line.state, line.method, line.case) == ("matched", "exact", case)
    assert "APP-1" in case.events.order_by("pk").last().reason, "the event names the booking"

    # The next month's run has nothing more to say to her.
    run = services.run_month(as_of=date(2026, 11, 1), actor="test")
    assert not Letter.objects.filter(case=case, level=2).exists(), run


def ensure_support():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="support")
