"""A letter template before it is saved: the check and the preview of the admin (issue 10).

    check_words     renders the subject, HTML and text of a template as a letter is rendered,
                    with a sample case (twice: with fees, interest, instalments and an earlier
                    letter, and without, so that both sides of an ``{% if %}`` are read), and
                    names every syntax error, error while rendering and unknown placeholder of
                    each part with its line (``templating.render_problems``)
    preview_words   the letter the words make for a sample case or a chosen one, as
                    ``letters.compose`` writes it: nothing is stored or sent
    sample_case     a case that exists nowhere: nothing of it is saved or read from the database

The sample is a made-up buyer (Erika Mustermann, Köln); a chosen case shows a real buyer's name
and address, so the admin logs that access (``cases.access_log``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.selectors import KnownAddress
from mahnwerk.dunning import letters, selectors
from mahnwerk.dunning.models import DunningPolicy, LetterKind
from mahnwerk.dunning.templating import render_problems
from mahnwerk.intake.models import Order, PaymentType, Product, Vendor

#: The parts of a template, and whether each is HTML (escaped) or plain text.
PARTS = (("subject", False), ("body_html", True), ("body_text", False))

SAMPLE_ADDRESS = KnownAddress(order_id="MUSTER-1001", created_at=datetime(2026, 3, 2, 10, 0),
                              street="Heidestraße", house_number="17", postcode="51147",
                              city="Köln", country="DE")


def sample_case(*, vendor: Vendor | None = None) -> DebtCase:
    """A waiting case of a made-up buyer, for the vendor given (else a sample vendor)."""
    vendor = vendor or Vendor(vendor_id="MUSTER", name="Muster Akademie GmbH",
                              email="info@muster-akademie.example")
    product = Product(product_id="MUSTER-P1", vendor=vendor, name="Online-Kurs Achtsamkeit")
    ordered = timezone.make_aware(datetime(2026, 3, 2, 10, 0))
    order = Order(order_id=SAMPLE_ADDRESS.order_id, vendor=vendor, product=product,
                  buyer_email="erika.mustermann@example.org", buyer_first_name="Erika",
                  buyer_last_name="Mustermann", street=SAMPLE_ADDRESS.street,
                  house_number=SAMPLE_ADDRESS.house_number, postcode=SAMPLE_ADDRESS.postcode,
                  city=SAMPLE_ADDRESS.city, country=SAMPLE_ADDRESS.country,
                  payment_type=PaymentType.INSTALLMENTS, amount_total=Decimal("600.00"),
                  currency="EUR", installments_total=6, installments_paid=2, created_at=ordered,
                  first_invoice_number="RE-2026-1001")
    return DebtCase(order=order, vendor=vendor, state="dunning", trigger="stopped_installments",
                    open_amount=Decimal("400.00"), currency="EUR", cycle=1,
                    first_invoice_number="RE-2026-1001", first_dunning_letter=date(2026, 5, 4),
                    opened_at=ordered)


def _contexts(*, language: str, vendor: Vendor | None) -> list[dict[str, Any]]:
    """Two sample letters: one with everything a letter may mention, one with nothing
    optional, so that every branch of a template's ``{% if %}`` is rendered once."""
    case = sample_case(vendor=vendor)
    today = timezone.localdate()
    full = letters._context(  # the letters' own context, so the check cannot drift from it
        case=case, level=2, language=language, letter_date=today,
        deadline=today + timedelta(days=14), principal=Decimal("400.00"),
        fees=Decimal("5.00"), interest=Decimal("2.47"), offer_link=_sample_link(),
        first_left=date(2026, 5, 4), address=SAMPLE_ADDRESS)
    case.order.payment_type = PaymentType.ONE_TIME
    case.order.buyer_first_name = case.order.buyer_last_name = ""
    bare = letters._context(
        case=case, level=1, language=language, letter_date=today,
        deadline=today + timedelta(days=14), principal=Decimal("400.00"),
        fees=Decimal("0.00"), interest=Decimal("0.00"), offer_link=_sample_link(),
        first_left=None, address=SAMPLE_ADDRESS)
    return [full, bare]


def _sample_link() -> str:
    """The preview's placeholder (never a real code, never 127.0.0.1: issue 11)."""
    return letters.preview_link()


def check_words(words: letters.Words, *, language: str, vendor: Vendor | None = None
                ) -> dict[str, list[str]]:
    """What keeps a template from rendering a letter, per part ("subject", "body_html",
    "body_text"), each with its line; an empty dict: all three render."""
    language = letters.language_of(language)
    found: dict[str, list[str]] = {}
    for context in _contexts(language=language, vendor=vendor):
        for part, html in PARTS:
            problems = render_problems(getattr(words, part), context, autoescape=html,
                                       language=language)
            for line, message in problems:
                text = (_("Line %(line)s: %(error)s") % {"line": line, "error": message}
                        if line else message)
                if text not in found.setdefault(part, []):
                    found[part].append(text)
    return {part: texts for part, texts in found.items() if texts}


@dataclass(frozen=True)
class Preview:
    composed: letters.ComposedLetter
    case: DebtCase
    policy: DunningPolicy
    level: int
    sample: bool


def level_for(*, policy: DunningPolicy, template: str) -> int:
    """The level of the policy that sends this kind of letter (the first one), else 1."""
    numbers = sorted(level.number for level in policy.levels.all()
                     if level.template == template)
    return numbers[0] if numbers else 1


def preview_words(words: letters.Words, *, template: str, language: str,
                  vendor: Vendor | None = None, case: DebtCase | None = None) -> Preview:
    """The letter these words make, dated today, with the policy of the case's vendor (or of
    the template's vendor, or the default one) and its level that sends this kind of letter:
    for a chosen case with its own figures and address, else for the sample case."""
    sample = case is None
    if case is None:
        case = sample_case(vendor=vendor)
        policy = (selectors.policy_for(vendor_id=vendor.pk) if vendor is not None
                  else selectors.default_policy())
    else:
        policy = selectors.policy_for(vendor_id=case.vendor_id)
    level = level_for(policy=policy, template=LetterKind(template).value)
    offer_link = _sample_link() if sample else letters.preview_link(case=case)
    composed = letters.compose(case=case, level=level, letter_date=timezone.localdate(),
                               policy=policy, offer_link=offer_link, language=language,
                               words=words, address=SAMPLE_ADDRESS if sample else None)
    return Preview(composed=composed, case=case, policy=policy, level=level, sample=sample)
