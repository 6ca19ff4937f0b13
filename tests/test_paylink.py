"""Pay from paper in seconds (issue 11, points 1, 2 and 6): every letter on paper prints a short
link with its QR code and, when the creditor's account is set, the account, the reference to
quote and a GiroCode; a preview is marked and carries a placeholder. The codes are read back
from the rendered page as a phone would: the PDF drawn as an image (pdftoppm) and scanned
(zbarimg)."""

import io
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from pypdf import PdfReader

from mahnwerk.cases import links
from mahnwerk.cases.models import DebtCase, LinkCode
from mahnwerk.cases.references import compact, parse_reference, payment_reference
from mahnwerk.dunning import delivery, letters, offers, services
from mahnwerk.dunning.models import DunningPolicy, Letter
from tests.factories import BERLIN, OrderFactory, ProductFactory
from tests.helpers import incident, scan

pytestmark = pytest.mark.django_db

INCIDENT = datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN)
ACCOUNT = {"iban": "DE89370400440532013000", "iban_printed": "DE89 3704 0044 0532 0130 00",
           "bic": "COBADEFFXXX", "holder": "CheckoutPlattform GmbH"}
SITE = "https://zahlung.checkout.example"


@pytest.fixture(autouse=True)
def _site_and_account(settings):
    settings.MAHNWERK_SITE_URL = SITE
    settings.MAHNWERK_CREDITOR_ACCOUNT = ACCOUNT


def pdf_text(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in
                             PdfReader(io.BytesIO(pdf)).pages).split()).replace("\u00a0", " ")


def first_letter(**order_fields) -> Letter:
    """The first letter of a case, written by the monthly run as every letter is."""
    order_fields.setdefault("product", ProductFactory(checkout_url=""))  # Mahnwerk's page
    order = OrderFactory(order_id="O4711", first_invoice_number="RE-2026-1001",
                         **order_fields)
    incident(order, open_amount="300.00", at=INCIDENT)
    services.run_month(as_of=date(2026, 10, 1), actor="test")
    delivery.deliver_due()
    return Letter.objects.get(case__order_id="O4711")


def epc(payload: str) -> dict:
    lines = payload.split("\n")
    names = ("service", "version", "charset", "identification", "bic", "name", "iban",
             "amount", "purpose", "reference", "text")
    return dict(zip(names, lines + [""] * (len(names) - len(lines)), strict=True))


def test_a_buyer_scans_the_letter_and_lands_on_the_offer_page_or_pays_by_transfer(
        client, tmp_path):
    letter = first_letter()
    pdf = letters.render_pdf(letter)
    codes = scan(pdf, tmp_path)
    assert len(codes) == 2, codes
    link = next(code for code in codes if code.startswith(SITE))
    giro = next(code for code in codes if code.startswith("BCD"))

    # The short link: printed and in the QR code, and it opens the offer page of this case.
    assert link.startswith(f"{SITE}/z/")
    code = link.rsplit("/", 1)[-1]
    assert len(code) == 19 and code.count("-") == 3, "four groups of four"
    assert link in pdf_text(pdf)
    assert letter.offer_link not in pdf_text(pdf), "the long link is not on the paper"
    answer = client.get(link.removeprefix(SITE))
    assert answer.status_code == 302
    assert answer["Location"] == f"/angebot/?token={links.normalise(code)}"
    assert letter.offer_link.endswith(answer["Location"]), "the e-mail's link, the same code"
    page = client.get(answer["Location"])
    assert page.status_code == 200
    assert "300,00" in page.content.decode() and "O4711" in page.content.decode()

    # The GiroCode: EPC069-12, the account, the total in EUR and the reference.
    fields = epc(giro)
    assert fields["service"] == "BCD" and fields["version"] == "002"
    assert fields["charset"] in {"1", "2"} and fields["identification"] == "SCT"
    assert (fields["bic"], fields["name"], fields["iban"]) == (
        "COBADEFFXXX", "CheckoutPlattform GmbH", "DE89370400440532013000")
    assert fields["amount"] == "EUR300"
    assert Decimal(fields["amount"].removeprefix("EUR")) == letter.principal + letter.fees \
        + letter.interest
    assert fields["text"] == "MW O4711 / RE-2026-1001"
    assert fields["text"] == payment_reference(letter.case)
    text = pdf_text(pdf)
    for shown in ("DE89 3704 0044 0532 0130 00", "COBADEFFXXX", "MW O4711 / RE-2026-1001",
                  "Per Überweisung", "Verwendungszweck"):
        assert shown in text, shown


def test_without_an_account_the_letter_has_no_bank_block_and_no_girocode(settings, tmp_path):
    settings.MAHNWERK_CREDITOR_ACCOUNT = None
    pdf = letters.render_pdf(first_letter())
    codes = scan(pdf, tmp_path)
    assert len(codes) == 1 and codes[0].startswith(f"{SITE}/z/"), codes
    text = pdf_text(pdf)
    assert "IBAN" not in text and "Verwendungszweck" not in text and "Überweisung" not in text


def test_a_chf_letter_shows_the_account_but_no_girocode_which_is_for_euros(tmp_path):
    pdf = letters.render_pdf(first_letter(currency="CHF"))
    codes = scan(pdf, tmp_path)
    assert [code[:8] for code in codes] == [SITE[:8]], codes
    text = pdf_text(pdf)
    assert "DE89 3704 0044 0532 0130 00" in text and "MW O4711 / RE-2026-1001" in text
    assert "CHF" in text and "GiroCode" not in text


def test_the_email_keeps_its_button_with_the_offer_link():
    letter = first_letter()
    assert f'href="{letter.offer_link}"' in letter.body_html


# -- The short link ------------------------------------------------------------------------


def offer_code(case: DebtCase, *, valid_days: int | None = 30) -> str:
    return offers.make_token(case=case, valid_days=valid_days)


def test_a_code_is_80_random_bits_in_groups_without_o_i_or_l():
    case = incident(OrderFactory(), at=INCIDENT)
    made = [offer_code(case) for _ in range(20)]
    assert len(set(made)) == 20
    assert len(links.ALPHABET) ** links.LENGTH >= 2 ** 80
    assert not set(links.ALPHABET) & set("oOiIlLu")
    for code in made:
        shown = links.grouped(code)
        assert [len(group) for group in shown.split("-")] == [4, 4, 4, 4]
        assert shown == shown.lower()
        assert LinkCode.objects.get(code=code).expires_at is not None


def test_a_code_typed_with_capitals_spaces_and_an_o_for_a_zero_still_resolves(client):
    case = incident(OrderFactory(order_id="O815"), at=INCIDENT)
    code = offer_code(case)
    while "0" not in code and "1" not in code:  # a code to mistype
        code = offer_code(case)
    typed = links.grouped(code).upper().replace("0", "O").replace("1", "l")
    typed = typed.replace("-", " ", 1)
    answer = client.get(f"/z/{typed}")
    assert answer.status_code == 302, typed
    assert answer["Location"] == f"/angebot/?token={code}"


def test_codes_of_issue_9_still_open_the_offer_page(client):
    case = incident(OrderFactory(), at=INCIDENT)
    LinkCode.objects.create(code="ABCDEFGHJKMNPQRST", case=case, purpose="offer",
                            created_at=timezone.now())
    assert client.get("/z/abcd-efgh-jkmn-pqrst").status_code == 302
    assert client.get("/angebot/?token=ABCDEFGHJKMNPQRST").status_code == 200


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/z/zzzz-zzzz-zzzz-zzzz", 404, "Wir kennen diesen Zahlungslink nicht"),
    ("/z/k7m2-9xq4", 404, "Dieser Zahlungslink ist nicht vollständig"),
    ("/z/VORSCHAU", 200, "Vorschau des Zahlungslinks"),
])
def test_an_unknown_or_mistyped_code_gets_a_friendly_page_with_whom_to_contact(
        client, path, status, words):
    answer = client.get(path)
    assert answer.status_code == status
    body = answer.content.decode()
    assert words in body
    if status != 200:
        assert "forderungen@checkout.example" in body and "+49 221 1234560" in body
        assert "Please contact us" in body, "and in English"


def test_an_expired_code_gets_a_friendly_page(client):
    case = incident(OrderFactory(), at=INCIDENT)
    code = offer_code(case, valid_days=30)
    LinkCode.objects.filter(code=code).update(expires_at=timezone.now() - timedelta(days=1))
    answer = client.get(f"/z/{links.grouped(code)}")
    assert answer.status_code == 410
    body = answer.content.decode()
    assert "abgelaufen" in body and "has expired" in body
    assert "forderungen@checkout.example" in body
    assert client.get(f"/angebot/?token={code}").status_code == 410, "the long link too"


# -- The preview -------------------------------------------------------------------------


def test_the_preview_is_marked_and_carries_a_placeholder_not_the_case_link(
        settings, tmp_path):
    settings.MAHNWERK_SITE_URL = "http://127.0.0.1:8000"
    letter = first_letter()
    case = letter.case
    case.refresh_from_db()
    assert case.offer_link, "the case has a real link"
    policy = DunningPolicy.objects.prefetch_related("levels").get(vendor__isnull=True)
    before = Letter.objects.count()
    composed = letters.preview(case=case, level=1, letter_date=date(2026, 10, 1),
                               policy=policy)
    pdf = letters.preview_pdf(composed, case)
    assert Letter.objects.count() == before, "never stored as a letter"
    text = pdf_text(pdf)
    assert "VORSCHAU / PREVIEW" in text
    assert case.offer_link not in composed.body_text + composed.body_html + text
    assert "127.0.0.1" not in text
    codes = scan(pdf, tmp_path)
    placeholder = f"{letters.PREVIEW_SITE}/z/{letters.PREVIEW_CODE}"
    assert placeholder in codes and placeholder in text
    assert not any(LinkCode.objects.filter(code=links.normalise(code.rsplit("/", 1)[-1]))
                   for code in codes if "/z/" in code)
    # A letter that is sent carries no mark.
    assert "VORSCHAU / PREVIEW" not in pdf_text(letters.render_pdf(letter))


def test_the_preview_on_the_case_page_is_marked(admin_client):
    letter = first_letter()
    answer = admin_client.get(f"/faelle/{letter.case.order_id}/vorschau/2/pdf/")
    assert answer.status_code == 200
    assert "VORSCHAU / PREVIEW" in pdf_text(answer.content)


# -- The reference -----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "order", "invoice"), [
    ("MW O4711 / RE-2026-1001", "O4711", "RE-2026-1001"),
    ("Rechnung mw:O4711/RE-2026-1001 danke", "O4711", "RE-2026-1001"),
    ("MW O4711", "O4711", ""),
    ("KD 55 MW  A.b_c-1 /  R1", "A.b_c-1", "R1"),
])
def test_the_reference_is_read_back_from_a_remittance_text(text, order, invoice):
    found = parse_reference(text)
    assert (found.order_id, found.invoice) == (order, invoice)


def test_a_text_without_the_mark_names_no_reference():
    assert parse_reference("Rechnung RE-2026-1001 Kunde 4711") is None
    assert parse_reference("HMW 4711") is None


def test_the_reference_fits_a_banking_app_however_long_the_ids():
    case = incident(OrderFactory(order_id="O" * 64, first_invoice_number="R" * 64),
                    at=INCIDENT)
    assert len(payment_reference(case)) <= 140
    assert compact("mw o47 11 / re-2026") == compact("MW O4711 / RE 2026")


# -- The settings ------------------------------------------------------------------------


def start(**env: str) -> subprocess.CompletedProcess:
    """``mahnwerk check`` in a fresh process, as a start would be."""
    return subprocess.run([sys.executable, "-m", "mahnwerk", "check"],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)


def test_an_iban_with_a_wrong_check_digit_refuses_to_start_naming_the_variable():
    refused = start(MAHNWERK_CREDITOR_IBAN="DE88 3704 0044 0532 0130 00")
    assert refused.returncode != 0
    assert "MAHNWERK_CREDITOR_IBAN" in refused.stderr and "checksum" in refused.stderr
    refused = start(MAHNWERK_CREDITOR_IBAN="DE89370400440532013000",
                    MAHNWERK_CREDITOR_BIC="NOTABIC")
    assert refused.returncode != 0 and "MAHNWERK_CREDITOR_BIC" in refused.stderr
    assert start(MAHNWERK_CREDITOR_IBAN="DE89 3704 0044 0532 0130 00").returncode == 0


def test_the_account_is_checked_and_printed_in_groups():
    from mahnwerk.bank_account import account

    assert account(iban="de89370400440532013000", bic="", holder="Checkout GmbH") == {
        "iban": "DE89370400440532013000", "iban_printed": "DE89 3704 0044 0532 0130 00",
        "bic": "COBADEFFXXX", "holder": "Checkout GmbH"}
    assert account(iban="", bic="", holder="Checkout GmbH") is None
