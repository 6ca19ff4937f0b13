"""Dunning letters: words, figures and the PDF (issue 3, letters)."""

import io
import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from pypdf import PdfReader

from mahnwerk.cases.models import DebtCase
from mahnwerk.dunning import letters, templating
from mahnwerk.dunning.models import DunningLevel, DunningPolicy, Letter, LetterTemplate
from tests.factories import OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident

pytestmark = pytest.mark.django_db

LINK = "https://checkout.example/p/P1/?offer=eyJjYXNlIjoxLCJvcmRlciI6Ik8xIn0:1vXyZq:abcDEF123"
NBSP = "\u00a0"


@pytest.fixture
def policy() -> DunningPolicy:
    """The standard policy that the data migration creates."""
    return DunningPolicy.objects.prefetch_related("levels").get(name="Standard",
                                                                vendor__isnull=True)


@pytest.fixture
def case() -> DebtCase:
    product = ProductFactory(name="Yoga für Anfänger – Grundkurs",
                             vendor=VendorFactory(name="Müller & Söhne Coaching GmbH"))
    order = OrderFactory(product=product, order_id="O4711", buyer_first_name="Jürgen",
                         buyer_last_name="Weiß", street="Königsallee", house_number="3a",
                         postcode="40212", city="Düsseldorf")
    return incident(order, open_amount="300.00")


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def links(pdf: bytes) -> list[str]:
    return [annot.get_object()["/A"]["/URI"]
            for page in PdfReader(io.BytesIO(pdf)).pages for annot in page.get("/Annots", [])
            if "/URI" in annot.get_object().get("/A", {})]


def dump(name: str, pdf: bytes) -> None:
    """MAHNWERK_DUMP_PDF=dir keeps the PDFs to look at."""
    if target := os.environ.get("MAHNWERK_DUMP_PDF"):
        Path(target, name).write_bytes(pdf)


def store(composed: letters.ComposedLetter, case: DebtCase) -> Letter:
    return Letter.objects.create(
        case=case, level=composed.level, letter_date=composed.letter_date,
        deadline=composed.deadline, language=composed.language, principal=composed.principal,
        fees=composed.fees, interest=composed.interest, currency=composed.currency,
        offer_link=composed.offer_link, subject=composed.subject,
        body_html=composed.body_html, body_text=composed.body_text)


def test_the_data_migration_creates_the_standard_policy_and_letters(policy):
    assert (policy.run_day, policy.escalate_after_days) == (1, 14)
    assert [(lvl.number, lvl.name, lvl.days_after_previous, lvl.fee)
            for lvl in policy.levels.all()] == [(1, "1. Mahnung", 7, Decimal("0.00")),
                                                (2, "2. Mahnung", 14, Decimal("0.00"))]
    assert [(lvl.template, lvl.handover_column) for lvl in policy.levels.all()] == [
        ("first", "first_dunning_letter"), ("second", "second_dunning_letter")]
    assert sorted(LetterTemplate.objects.filter(vendor__isnull=True)
                  .values_list("template", "language")) == [
        ("final", "de"), ("final", "en"), ("first", "de"), ("first", "en"),
        ("reminder", "de"), ("reminder", "en"), ("second", "de"), ("second", "en")]
    shipped = letters.default_words(template="second", language="de")
    stored = LetterTemplate.objects.get(vendor__isnull=True, template="second", language="de")
    assert (stored.subject, stored.body_text) == (shipped.subject, shipped.body_text)


def test_the_first_letter_names_creditor_order_product_amount_deadline_and_link(case, policy):
    composed = letters.compose(case=case, level=1, letter_date=date(2025, 7, 1),
                               policy=policy, offer_link=LINK)

    assert composed.language == "de"
    assert composed.subject == "Zahlungserinnerung zu Ihrer Bestellung O4711"
    assert composed.deadline == date(2025, 7, 15)  # letter date + 14 payment days
    assert (composed.principal, composed.fees, composed.interest) == (
        Decimal("300.00"), Decimal("0.00"), Decimal("0.00"))
    for body in (composed.body_text, composed.body_html):
        assert "Guten Tag Jürgen Weiß," in body
        assert "O4711" in body
        assert "02.05.2025" in body  # the order date
        assert "Yoga für Anfänger – Grundkurs" in body
        assert f"300,00{NBSP}€" in body
        assert "15.07.2025" in body
        assert LINK in body
        assert "CheckoutPlattform GmbH" in body
        assert "Rheinuferstraße 12, 50668 Köln" in body
        assert "forderungen@checkout.example" in body
        assert "Mahngebühr" not in body
        assert "Verzugszinsen" not in body
        assert "Inkasso" not in body
    assert "(Anbieter: Müller & Söhne Coaching GmbH)" in composed.body_text
    assert "(Anbieter: Müller &amp; Söhne Coaching GmbH)" in composed.body_html
    assert "Ratenzahlung wieder aufnehmen" in composed.body_text  # an instalment order
    assert "\n\n\n" not in composed.body_text


def test_fees_and_interest_appear_only_when_set_and_interest_only_in_the_second(case, policy):
    policy.interest_enabled = True
    policy.fees_enabled = True
    policy.save()
    DunningLevel.objects.filter(policy=policy, number=2).update(fee=Decimal("2.50"))
    policy = DunningPolicy.objects.prefetch_related("levels").get(pk=policy.pk)

    first = letters.compose(case=case, level=1, letter_date=date(2025, 7, 1), policy=policy,
                            offer_link=LINK)
    assert (first.fees, first.interest) == (Decimal("0.00"), Decimal("0.00"))
    assert "Verzugszinsen" not in first.body_text and "Mahngebühren" not in first.body_text
    store(first, case)
    DebtCase.objects.filter(pk=case.pk).update(first_dunning_letter=date(2025, 7, 1))
    case.refresh_from_db()

    second = letters.compose(case=case, level=2, letter_date=date(2025, 8, 1), policy=policy,
                             offer_link=LINK)
    # In default since the first letter's deadline, 15.07.2025; up to 01.08.2025 that is
    # 17 days: 300.00 x 6.27 % x 17 / 365 = 0.87608... -> 0.88
    assert second.interest == Decimal("0.88")
    assert second.fees == Decimal("2.50")
    assert second.total == Decimal("303.38")
    assert second.subject == "2. Mahnung zu Ihrer Bestellung O4711"
    assert f"Mahngebühren: 2,50{NBSP}€" in second.body_text
    assert f"Verzugszinsen: 0,88{NBSP}€" in second.body_text
    assert f"Gesamtbetrag: 303,38{NBSP}€" in second.body_text
    assert "Zahlungserinnerung vom 01.07.2025" in second.body_text
    assert "Inkassounternehmen" in second.body_text
    assert "15.08.2025" in second.body_text

    policy.interest_enabled = False
    policy.save()
    DebtCase.objects.filter(pk=case.pk).update(fees=0, interest=0, charges=[])
    case.refresh_from_db()
    no_interest = letters.compose(case=case, level=2, letter_date=date(2025, 8, 1),
                                  policy=policy, offer_link=LINK)
    assert no_interest.interest == Decimal("0.00")
    assert "Verzugszinsen" not in no_interest.body_text


def test_interest_is_counted_from_the_first_deadline_without_a_stored_letter(case, policy):
    policy.interest_enabled = True
    policy.payment_days = 10
    DebtCase.objects.filter(pk=case.pk).update(first_dunning_letter=date(2025, 1, 1))
    case.refresh_from_db()
    composed = letters.compose(case=case, level=2, letter_date=date(2026, 1, 11),
                               policy=policy, offer_link=LINK)
    # In default from 12.01.2025 (the deadline 11.01.2025 + 1) to 11.01.2026, 365 days at
    # three base rates (2.27 %, 1.27 %, 1.27 %) + 5 points:
    #   12.01.-30.06.2025: 170 days x 7.27 %; 01.07.-31.12.2025: 184 days x 6.27 %;
    #   01.01.-11.01.2026: 11 days x 6.27 %
    #   300.00 x (170 x 7.27 + 195 x 6.27) / 100 / 365 = 300.00 x 24.5855 / 365 = 20.2072
    assert composed.interest == Decimal("20.21")
    assert composed.deadline == date(2026, 1, 21)


def test_a_vendor_template_wins_over_the_standard_one(case, policy):
    LetterTemplate.objects.create(
        vendor=case.vendor, template="first", language="de", subject="Hallo von {{ vendor }}",
        body_html="<p>{{ buyer_first_name }}, bitte {{ total }} bis {{ deadline }}.</p>",
        body_text="{{ buyer_first_name }}, bitte {{ total }} bis {{ deadline }}.")
    LetterTemplate.objects.create(vendor=VendorFactory(), template="first", language="de",
                                  subject="Fremd", body_html="x", body_text="x")
    mine = letters.compose(case=case, level=1, letter_date=date(2025, 7, 1), policy=policy,
                           offer_link=LINK)
    assert mine.subject == "Hallo von Müller & Söhne Coaching GmbH"
    assert mine.body_text == f"Jürgen, bitte 300,00{NBSP}€ bis 15.07.2025.\n"
    assert "Müller" not in mine.body_html and "Jürgen, bitte" in mine.body_html

    other = incident(OrderFactory())
    standard = letters.compose(case=other, level=1, letter_date=date(2025, 7, 1),
                               policy=policy, offer_link=LINK)
    assert standard.subject.startswith("Zahlungserinnerung")


def test_the_shipped_files_serve_when_the_database_has_no_standard_letter(case, policy):
    LetterTemplate.objects.all().delete()
    composed = letters.compose(case=case, level=2, letter_date=date(2025, 8, 1),
                               policy=policy, offer_link=LINK)
    assert composed.subject == "2. Mahnung zu Ihrer Bestellung O4711"


def test_english_when_asked(case, policy):
    composed = letters.compose(case=case, level=1, letter_date=date(2025, 7, 1),
                               policy=policy, offer_link=LINK, language="en")
    assert composed.language == "en"
    assert composed.subject == "Payment reminder for your order O4711"
    assert "Dear Jürgen Weiß," in composed.body_text
    assert "€300.00" in composed.body_text
    assert "15 July 2025" in composed.body_text
    second = letters.compose(case=case, level=2, letter_date=date(2025, 8, 1),
                             policy=policy, offer_link=LINK, language="en-GB")
    assert second.subject == "Second reminder for your order O4711"
    assert "collection agency" in second.body_text
    assert letters.language_of(None) == letters.language_of("fr") == "de"


def test_a_template_with_a_syntax_error_is_refused_with_its_line(case):
    template = LetterTemplate(
        vendor=case.vendor, template="first", language="de", subject="Mahnung {{ order_id }}",
        body_html="<p>Hallo</p>\n<p>{% if has_fees %}Gebühr</p>\n{% endfor %}\n",
        body_text="Hallo\n\n{{ total|nosuchfilter }}\n")
    with pytest.raises(ValidationError) as refused:
        template.full_clean()
    errors = refused.value.message_dict
    assert set(errors) == {"body_html", "body_text"}
    assert errors["body_html"][0].startswith("Zeile 3: ")
    assert "endfor" in errors["body_html"][0]
    assert errors["body_text"][0].startswith("Zeile 3: ")
    assert "nosuchfilter" in errors["body_text"][0]

    template.body_html = "<p>{% if has_fees %}{{ fees }}{% endif %}</p>"
    template.body_text = "{% load i18n %}{% translate 'Hello' %} {{ total }}"
    template.full_clean()


def test_check_template_names_the_field_and_line():
    with pytest.raises(ValidationError) as refused:
        templating.check_template("a\nb\n{% bogus %}", field="subject")
    [message] = refused.value.message_dict["subject"]
    assert message.startswith("Zeile 3: ") and "bogus" in message


def test_render_pdf_is_a_din_letter_with_the_order_amount_and_umlauts(case, policy):
    composed = letters.compose(case=case, level=1, letter_date=date(2025, 7, 1),
                               policy=policy, offer_link=LINK)
    pdf = letters.render_pdf(store(composed, case))
    dump("level1_de.pdf", pdf)
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    flat = " ".join(text.split())
    assert "O4711" in flat
    assert "300,00 €" in flat.replace(NBSP, " ")
    assert "Jürgen Weiß" in flat
    assert "Königsallee 3a" in flat and "40212 Düsseldorf" in flat
    assert "Zahlungserinnerung zu Ihrer Bestellung O4711" in flat
    assert "Yoga für Anfänger" in flat
    assert "15.07.2025" in flat
    assert "CheckoutPlattform GmbH" in flat and "Amtsgericht Köln" in flat
    assert "Rheinuferstraße" in flat
    assert LINK in text.replace("\n", "")  # Typst may break the long link across lines
    assert LINK in links(pdf)  # and it is clickable
    assert "Gesamtbetrag" in flat and "Zahlbar bis" in flat


def test_the_pdf_of_a_second_letter_lists_fees_and_interest(case, policy):
    DunningLevel.objects.filter(policy=policy, number=2).update(fee=Decimal("2.50"))
    policy = DunningPolicy.objects.prefetch_related("levels").get(pk=policy.pk)
    policy.interest_enabled = policy.fees_enabled = True
    DebtCase.objects.filter(pk=case.pk).update(first_dunning_letter=date(2025, 7, 1))
    case.refresh_from_db()
    composed = letters.compose(case=case, level=2, letter_date=date(2025, 8, 1),
                               policy=policy, offer_link=LINK, language="en")
    pdf = letters.preview_pdf(composed, case)
    dump("level2_en.pdf", pdf)
    flat = " ".join(pdf_text(pdf).split()).replace(NBSP, " ")
    assert "Dunning fees" in flat and "€2.50" in flat
    assert "Default interest" in flat and "€0.88" in flat
    assert "€303.38" in flat


def test_preview_uses_the_case_link_or_a_placeholder(case, policy):
    composed = letters.preview(case=case, level=1, letter_date=date(2025, 7, 1),
                               policy=policy)
    assert composed.offer_link.endswith("/angebot/VORSCHAU")
    assert composed.offer_link in composed.body_text
    DebtCase.objects.filter(pk=case.pk).update(offer_link=LINK)
    case.refresh_from_db()
    assert letters.preview(case=case, level=1, letter_date=date(2025, 7, 1),
                           policy=policy).offer_link == LINK
    assert letters.preview_pdf(composed, case).startswith(b"%PDF")
