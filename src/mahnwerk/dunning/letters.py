"""Dunning letters: their words, their figures and their PDF.

    compose         the letter of a policy's level for a case on a date: the words of the level's
                    letter kind (reminder, first, second, final) from the vendor's own template,
                    else the standard one in the database, else the shipped files
                    (``templates/dunning/letters/<kind>_{de,en}.*``); from the second level
                    on, when the policy charges them, the costs (the levels' fees, for a
                    business the lump sum of § 288 (5) BGB) and the default interest up to the
                    letter's day (``charge_for``, figures from ``cases.claims``)
    preview         the same before sending, with a placeholder link (``PREVIEW_LINK``, no
                    real code, never stored)
    render_pdf      a stored ``Letter`` as a PDF in DIN 5008 layout (form B), rendered by Typst
                    from ``templates/dunning/letter.typ``; ``preview_pdf`` for a composed one,
                    marked "VORSCHAU / PREVIEW" across the page

On paper (issue 11) the offer link is printed as its short link (``offers.short_link``) with a
QR code of it, and, when the creditor's bank account is set (``MAHNWERK_CREDITOR_ACCOUNT``),
the account with the reference to quote (``cases.references.payment_reference``) and a
GiroCode (``payment_codes``); a letter in another currency than EUR shows the account without
a GiroCode. The e-mail keeps its button with the offer link.

``dunning.templating.check_template`` refuses a template with a syntax error, naming the line
(the admin calls it through ``LetterTemplate.clean``).

A letter template is a Django template (subject, HTML body, text body). Its context:

    creditor            dict: name, street, postcode, city, country, email, phone, register,
                        managing_director (settings.MAHNWERK_CREDITOR)
    vendor              the vendor's name
    buyer_first_name, buyer_last_name, buyer_name, buyer_street, buyer_house_number,
    buyer_postcode, buyer_city, buyer_country, buyer_address (one line)
    order_id, order_date, product, installments (whether the order is paid in instalments),
    first_invoice_number, first_letter_date
    open_amount (= principal), fees, interest, total   formatted with the currency sign
    has_fees, has_interest                              whether to mention them at all
    currency, deadline, letter_date, offer_link, level

Amounts and dates are formatted for the letter's language ("300,00 €", "31.01.2026" in
German). German letter texts live in the ``*_de`` files, not in the gettext catalogues.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel import Locale
from babel.dates import format_date
from django.conf import settings
from django.db import connection
from django.template import Context
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from mahnwerk.cases.claims import (
    BUSINESS_POINTS,
    CONSUMER_POINTS,
    LUMP_SUM,
    Accrual,
    Charge,
    Claim,
    MissingBaseRate,
    charges_of,
    round_cents,
    settle,
)
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.references import payment_reference
from mahnwerk.cases.selectors import KnownAddress, claim_basis, newest_addresses
from mahnwerk.dunning import offers, payment_codes
from mahnwerk.dunning.models import (
    DefaultStart,
    DunningLevel,
    DunningPolicy,
    Letter,
    LetterKind,
    LetterTemplate,
    fee_cap,
)
from mahnwerk.dunning.rates import rates
from mahnwerk.dunning.templating import compiled
from mahnwerk.intake.models import PaymentType
from mahnwerk.money import format_money, locale_of, quantize

TEMPLATES = Path(__file__).resolve().parent / "templates" / "dunning"
LETTER_TYP = TEMPLATES / "letter.typ"
LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
DATE_FORMATS = {"de": "dd.MM.yyyy", "en": "d MMMM yyyy"}
#: The placeholder of previews before issue 11 (its offer page still says it is one).
PREVIEW_PATH = "/angebot/VORSCHAU"
#: The code of a preview's placeholder link: never a real code (no code has a U or 8 letters).
PREVIEW_CODE = "VORSCHAU"
#: Where a preview's placeholder link points when the site's own address is a local one
#: (the embedded set-up's 127.0.0.1): a name that is nobody's (RFC 2606).
PREVIEW_SITE = "https://mahnwerk.example"
ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class ComposedLetter:
    subject: str
    body_html: str
    body_text: str
    language: str
    letter_date: date
    deadline: date
    principal: Decimal
    fees: Decimal
    interest: Decimal
    currency: str
    offer_link: str
    level: int
    #: What this letter claims beyond the letters before it (costs, interest up to its day),
    #: to be kept on the case (``DebtCase.charges``); None when the policy charges nothing.
    charge: Charge | None = None
    #: A preview (``preview``): its PDF is marked, its link a placeholder.
    is_preview: bool = False

    @property
    def total(self) -> Decimal:
        return self.principal + self.fees + self.interest


@dataclass(frozen=True, slots=True)
class Words:
    """The three templates of one letter, as source text."""

    subject: str
    body_html: str
    body_text: str


# --- templates ---------------------------------------------------------------------------


def default_words(*, template: str, language: str) -> Words:
    """The shipped standard letter (the files the data migration copies into the database)."""
    base = TEMPLATES / "letters" / f"{LetterKind(template).value}_{language}"
    return Words(subject=Path(f"{base}.subject.txt").read_text(encoding="utf-8").strip(),
                 body_html=Path(f"{base}.html").read_text(encoding="utf-8"),
                 body_text=Path(f"{base}.txt").read_text(encoding="utf-8"))


@cache
def _words_sql() -> str:
    meta = LetterTemplate._meta
    quote = connection.ops.quote_name
    column = {f: quote(meta.get_field(f).column)
              for f in ("vendor", "template", "language", "subject", "body_html", "body_text")}
    return (f"SELECT {column['subject']}, {column['body_html']}, {column['body_text']} "
            f"FROM {quote(meta.db_table)} WHERE {column['template']} = %s "
            f"AND {column['language']} = %s "
            f"AND ({column['vendor']} = %s OR {column['vendor']} IS NULL) "
            f"ORDER BY {column['vendor']} IS NULL LIMIT 1")


def words_for(*, vendor_id: str, template: str, language: str) -> Words:
    """The vendor's own template, else the standard one in the database, else the file.

    Read afresh for every letter (one indexed query, a tenth of a millisecond) so that a
    template changed in the admin counts at once in every process."""
    with connection.cursor() as cursor:
        cursor.execute(_words_sql(), [template, language, vendor_id])
        row = cursor.fetchone()
    if row is not None:
        return Words(subject=row[0], body_html=row[1], body_text=row[2])
    return default_words(template=template, language=language)


# --- figures ---------------------------------------------------------------------------


def language_of(language: str | None) -> str:
    """"de" unless English is asked for ("en", "en-gb", "en_US" ...)."""
    code = (language or DEFAULT_LANGUAGE).lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def _locale(language: str) -> Locale:
    return locale_of(language)


def day(value: date, *, language: str) -> str:
    return format_date(value, format=DATE_FORMATS[language], locale=_locale(language))


class NoSuchLevel(ValueError):
    """The policy has no level of that number."""


def policy_level(*, policy: DunningPolicy, number: int) -> DunningLevel:
    # ``levels.all()`` so that a run that prefetched the levels asks the database nothing.
    level = next((lvl for lvl in policy.levels.all() if lvl.number == number), None)
    if level is None:
        raise NoSuchLevel(_("The policy %(policy)s has no level %(level)s.")
                          % {"policy": policy.name, "level": number})
    return level


class NoBaseRate(ValueError):
    """Interest would run in a half-year for which the base-rate table has no rate."""


def default_since(*, policy: DunningPolicy, first_deadline: date | None,
                  first_left: date | None) -> date | None:
    """The first day in default (§ 286 BGB): the day after the first letter's deadline (its
    deadline: the day it left plus the policy's days to pay, when only its date is known), or
    the day after it left, as the policy says; None before a first letter left."""
    if policy.default_starts == DefaultStart.AFTER_LETTER:
        return first_left + timedelta(days=1) if first_left else None
    if first_deadline is None and first_left is not None:
        first_deadline = first_left + timedelta(days=policy.payment_days)
    return first_deadline + timedelta(days=1) if first_deadline else None


def costs_due(*, policy: DunningPolicy, level: int, currency: str, in_default: bool) -> Decimal:
    """What the letters up to ``level`` may cost in all: the fees of levels 2 to ``level``
    (each at most the cap; the first letter never costs anything); for a business in default
    the lump sum of § 288 (5) BGB (in EUR) instead, as far as the fees stay below it: the fees
    count against it (§ 288 (5) sentence 3)."""
    if not policy.fees_enabled:
        return ZERO
    cap = fee_cap()
    fees = sum((min(lvl.fee, cap) for lvl in policy.levels.all() if 1 < lvl.number <= level),
               ZERO)
    if policy.buyers_are_businesses and in_default and currency == "EUR":
        return max(fees, LUMP_SUM)
    return fees


def charge_for(*, case: DebtCase, policy: DunningPolicy, level: int, letter_date: date,
               since: date | None) -> tuple[Charge, Claim]:
    """What the letter of ``level`` on ``letter_date`` claims beyond the letters before it of
    the cycle (costs, and the interest that ran up to its day), and the claim with it."""
    start, payments = claim_basis(case=case)
    payments = [paid for paid in payments if paid.on <= letter_date]
    earlier = [c for c in charges_of(case.charges) if c.level != level]
    in_default = since is not None and since <= letter_date
    accrual = None
    if policy.interest_enabled and in_default:
        points = BUSINESS_POINTS if policy.buyers_are_businesses else CONSUMER_POINTS
        accrual = Accrual(since=since, points=points, rates=rates())
    try:
        before = settle(principal=start, charges=earlier, payments=payments, accrual=accrual,
                        until=letter_date)
    except MissingBaseRate as exc:
        raise NoBaseRate(_("No base rate for the half-year from %(day)s: enter it in the "
                           "administration (base rates) before letters charge interest.")
                         % {"day": day(exc.half_year, language="de")}) from exc
    interest = ZERO
    if accrual is not None:
        interest = max(ZERO, round_cents(before.accrued) - sum((c.interest for c in earlier),
                                                                ZERO))
    costs = max(ZERO, costs_due(policy=policy, level=level, currency=case.currency,
                                in_default=in_default) - sum((c.costs for c in earlier), ZERO))
    charge = Charge(on=letter_date, level=level, costs=costs, interest=interest)
    return charge, settle(principal=start, charges=[*earlier, charge], payments=payments)


def first_letter_of_cycle(*, case: DebtCase) -> tuple[date | None, date | None]:
    """The deadline and the day it left of the first letter of the case's current cycle."""
    meta, quote = Letter._meta, connection.ops.quote_name

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    with connection.cursor() as cursor:  # plain SQL: a third of the ORM's time per letter
        cursor.execute(
            f"SELECT {column('deadline')}, {column('dispatched_on')} FROM "
            f"{quote(meta.db_table)} WHERE {column('case')} = %s AND {column('cycle')} = %s "
            f"AND {column('withdrawn_at')} IS NULL ORDER BY {column('level')} LIMIT 1",
            [case.pk, case.cycle])
        row = cursor.fetchone()
    if row is None:
        return None, None
    deadline, left = row
    return _day_value(deadline), _day_value(left)


def _day_value(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def postal_address(*, case: DebtCase) -> KnownAddress:
    """Where a letter goes by post: the buyer's newest known address, the one the case's
    invalid-address flag follows (``cases.selectors.newest_addresses``), so that the letter
    reaches the address the decision counted on."""
    return newest_addresses(cases=[case])[case.pk]


def _context(*, case: DebtCase, level: int, language: str, letter_date: date, deadline: date,
             principal: Decimal, fees: Decimal, interest: Decimal,
             offer_link: str, first_left: date | None,
             address: KnownAddress) -> dict[str, Any]:
    order = case.order
    currency = case.currency
    street = f"{address.street} {address.house_number}".strip()
    place = f"{address.postcode} {address.city}".strip()
    def fmt(amount: Decimal) -> str:
        return format_money(amount, currency, language=language)

    formatted_principal = fmt(principal)
    return {
        "creditor": settings.MAHNWERK_CREDITOR,
        "vendor": case.vendor.name,
        "buyer_first_name": order.buyer_first_name,
        "buyer_last_name": order.buyer_last_name,
        "buyer_name": f"{order.buyer_first_name} {order.buyer_last_name}".strip(),
        "buyer_street": address.street, "buyer_house_number": address.house_number,
        "buyer_postcode": address.postcode, "buyer_city": address.city,
        "buyer_country": address.country,
        "buyer_address": ", ".join(part for part in (street, place) if part),
        "order_id": case.order_id,
        "order_date": day(timezone.localtime(order.created_at).date(), language=language),
        "product": order.product.name,
        "installments": order.payment_type == PaymentType.INSTALLMENTS,
        "first_invoice_number": case.first_invoice_number or order.first_invoice_number,
        "first_letter_date": day(first_left, language=language) if first_left else "",
        "open_amount": formatted_principal, "principal": formatted_principal,
        "fees": fmt(fees), "has_fees": fees > 0,
        "interest": fmt(interest), "has_interest": interest > 0,
        "total": fmt(principal + fees + interest), "currency": currency,
        "deadline": day(deadline, language=language),
        "letter_date": day(letter_date, language=language),
        "offer_link": offer_link, "level": level,
    }


def _tidy_text(text: str) -> str:
    """Trailing spaces off, at most one empty line in a row (left by ``{% if %}`` lines)."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def compose(*, case: DebtCase, level: int, letter_date: date, policy: DunningPolicy,
            offer_link: str, language: str | None = None,
            words: Words | None = None, address: KnownAddress | None = None) -> ComposedLetter:
    """The letter of the policy's level ``level`` for a case as it is sent on ``letter_date``.

    ``words`` and ``address``: the templates and the buyer's postal address, when the caller
    has read them already (a run reads them once per batch of cases); else read now."""
    rule = policy_level(policy=policy, number=level)
    language = language_of(language)
    currency = case.currency
    # What is open now; a letter after the first adds its costs and the interest up to its day.
    principal = quantize(case.open_amount, currency)
    fees = quantize(Decimal(case.fees), currency)  # an unsaved (sample) case holds ints
    interest = quantize(Decimal(case.interest), currency)
    charge: Charge | None = None
    first_left: date | None = None
    if level > 1:
        first_deadline, first_left = first_letter_of_cycle(case=case)
        first_left = first_left or case.first_dunning_letter  # known only by its date
        if policy.fees_enabled or policy.interest_enabled:
            since = default_since(policy=policy, first_deadline=first_deadline,
                                  first_left=first_left)
            charge, claim = charge_for(case=case, policy=policy, level=level,
                                       letter_date=letter_date, since=since)
            principal, fees, interest = (quantize(claim.principal, currency),
                                         quantize(claim.costs, currency),
                                         quantize(claim.interest, currency))
    deadline = letter_date + timedelta(days=policy.payment_days)
    context = _context(case=case, level=level, language=language, letter_date=letter_date,
                       deadline=deadline, principal=principal, fees=fees, interest=interest,
                       offer_link=offer_link, first_left=first_left,
                       address=address or postal_address(case=case))
    if words is None:
        words = words_for(vendor_id=case.vendor_id, template=rule.template, language=language)
    with override(language):
        subject = compiled(words.subject).render(Context(context, autoescape=False))
        body_html = compiled(words.body_html).render(Context(context))
        body_text = compiled(words.body_text).render(Context(context, autoescape=False))
    return ComposedLetter(
        subject=" ".join(subject.split())[:255], body_html=body_html.strip() + "\n",
        body_text=_tidy_text(body_text), language=language, letter_date=letter_date,
        deadline=deadline, principal=principal, fees=fees, interest=interest,
        currency=currency, offer_link=offer_link, level=level, charge=charge)


def preview_link(*, case: DebtCase | None = None) -> str:
    """The placeholder of the offer link in a preview: the site's short-link address with
    ``PREVIEW_CODE`` (its page says it is a preview), on ``PREVIEW_SITE`` when the site is a
    local address. Never the case's own link: a preview must not pass for a letter."""
    site = settings.MAHNWERK_SITE_URL.rstrip("/")
    host = (urlsplit(site).hostname or "").lower()
    if host in ("", "localhost", "::1") or host.startswith("127.") or host.endswith(".local"):
        site = PREVIEW_SITE
    return site + offers.SHORT_PATH + PREVIEW_CODE


def preview(*, case: DebtCase, level: int, letter_date: date, policy: DunningPolicy,
            language: str | None = None) -> ComposedLetter:
    """The letter before it is sent, with a placeholder link; nothing is stored."""
    composed = compose(case=case, level=level, letter_date=letter_date, policy=policy,
                       offer_link=preview_link(case=case), language=language)
    return replace(composed, is_preview=True)


# --- PDF -------------------------------------------------------------------------------

_local = threading.local()


def _compiler() -> Any:
    """One Typst compiler per thread: it keeps the fonts and the parsed layout between
    letters. Only the fonts that ship with Typst are used, so a letter looks the same on every
    machine, and no system fonts are scanned (a fresh ``typst.compile`` that scans them takes
    twice as long: about 23 ms a letter instead of 11-13, bench/letters_benchmark.py)."""
    compiler = getattr(_local, "compiler", None)
    if compiler is None:
        import typst

        compiler = _local.compiler = typst.Compiler(
            str(LETTER_TYP), root=str(TEMPLATES), ignore_system_fonts=True)
    return compiler


def _country(code: str, language: str) -> str:
    """DIN 5008: the country in capitals on the last line, except for the home country."""
    if not code or code.upper() == settings.MAHNWERK_DEFAULT_COUNTRY.upper():
        return ""
    return _locale(language).territories.get(code.upper(), code).upper()


_AMOUNT_LINE = re.compile(r"^[^\n]{1,60}$")


def _blocks(*, composed: ComposedLetter) -> list[dict[str, Any]]:
    """The text body as paragraphs (lists of lines); the paragraph that lists the amounts
    becomes the payment table, placed where it stood (or before the closing paragraph)."""
    figures = [format_money(value, composed.currency, language=composed.language)
               for value in (composed.principal, composed.fees, composed.interest,
                             composed.total)]
    blocks: list[dict[str, Any]] = []
    table_at: int | None = None
    for paragraph in re.split(r"\n\s*\n", composed.body_text.strip()):
        lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
        is_amounts = bool(lines) and all(
            _AMOUNT_LINE.match(line) and line.endswith(tuple(figures)) for line in lines)
        if is_amounts:
            if table_at is None:
                table_at = len(blocks)
            continue
        blocks.append({"kind": "text", "lines": lines})
    if table_at is None:  # a vendor's own words: before the closing paragraph
        table_at = len(blocks) - 1 if len(blocks) > 1 else len(blocks)
    blocks.insert(table_at, {"kind": "amounts"})
    return blocks


def pdf_data(*, composed: ComposedLetter, case: DebtCase,
             address: KnownAddress | None = None) -> dict[str, Any]:
    """What ``letter.typ`` reads from ``sys.inputs.data``; ``address``: the postal address if
    the caller read it already (``postal_address``; the outbox reads a chunk's at once)."""
    order = case.order
    language = composed.language

    def fmt(amount: Decimal) -> str:
        return format_money(amount, composed.currency, language=language)

    amounts = [["principal", fmt(composed.principal)]]
    if composed.fees:
        amounts.append(["fees", fmt(composed.fees)])
    if composed.interest:
        amounts.append(["interest", fmt(composed.interest)])
    name = f"{order.buyer_first_name} {order.buyer_last_name}".strip()
    address = address or postal_address(case=case)
    return {
        "language": language, "level": composed.level, "subject": composed.subject,
        "creditor": settings.MAHNWERK_CREDITOR,
        "address": [line for line in (
            name, f"{address.street} {address.house_number}".strip(),
            f"{address.postcode} {address.city}".strip(), _country(address.country, language))
            if line],
        "letter_date": day(composed.letter_date, language=language),
        "deadline": day(composed.deadline, language=language),
        "order_id": case.order_id, "buyer_id": order.buyer_id,
        "order_date": day(timezone.localtime(order.created_at).date(), language=language),
        "invoice": case.first_invoice_number or order.first_invoice_number,
        "product": order.product.name,
        "amounts": amounts, "total": fmt(composed.total),
        **_paper(composed=composed, case=case),
    }


def printed_link(composed: ComposedLetter) -> str:
    """The link as the paper letter prints it: the short link when the offer link carries a
    code (the preview's placeholder is one already), else the offer link itself."""
    if composed.is_preview:
        return composed.offer_link
    return offers.short_link_of(composed.offer_link) or composed.offer_link


def _paper(*, composed: ComposedLetter, case: DebtCase) -> dict[str, Any]:
    """What only the paper letter has (issue 11): the short link in the text, its QR code,
    the bank account with the reference and the GiroCode, the preview's mark."""
    link = printed_link(composed)
    blocks = _blocks(composed=composed)
    payment_at = None
    for number, block in enumerate(blocks):
        if block["kind"] == "text" and composed.offer_link in block["lines"]:
            block["lines"] = [link if line == composed.offer_link else line
                              for line in block["lines"]]
            payment_at = number + 1
    if payment_at is None:  # a vendor's own words without the link: before the closing
        payment_at = len(blocks) - 1 if len(blocks) > 1 else len(blocks)
    blocks.insert(payment_at, {"kind": "payment"})
    account = settings.MAHNWERK_CREDITOR_ACCOUNT
    bank = None
    if account:
        reference = payment_reference(case)
        bank = {"holder": account["holder"], "iban": account["iban_printed"],
                "bic": account["bic"], "reference": reference,
                "amount": format_money(composed.total, composed.currency,
                                       language=composed.language),
                "girocode": payment_codes.girocode(
                    account=account, amount=composed.total, currency=composed.currency,
                    reference=reference) or ""}
    return {"offer_link": link, "link_qr": payment_codes.link_qr(link), "bank": bank,
            "preview": composed.is_preview, "blocks": blocks}


class LetterPdfError(RuntimeError):
    """Typst could not lay out the letter (``letter.typ`` is broken); the message is Typst's."""


def _pdf(*, composed: ComposedLetter, case: DebtCase,
         address: KnownAddress | None = None) -> bytes:
    import typst

    data = json.dumps(pdf_data(composed=composed, case=case, address=address),
                      ensure_ascii=False)
    try:
        return _compiler().compile(format="pdf", sys_inputs={"data": data})
    except typst.TypstError as exc:
        raise LetterPdfError(getattr(exc, "diagnostic", "") or str(exc)) from exc


def render_pdf(letter: Letter, *, address: KnownAddress | None = None) -> bytes:
    """A stored letter as a PDF in DIN 5008 layout (form B), from the words it was sent with;
    ``address`` as ``pdf_data``."""
    composed = ComposedLetter(
        subject=letter.subject, body_html=letter.body_html, body_text=letter.body_text,
        language=language_of(letter.language), letter_date=letter.letter_date,
        deadline=letter.deadline, principal=letter.principal, fees=letter.fees,
        interest=letter.interest, currency=letter.currency, offer_link=letter.offer_link,
        level=letter.level)
    return _pdf(composed=composed, case=letter.case, address=address)


def preview_pdf(composed: ComposedLetter, case: DebtCase) -> bytes:
    """The PDF of a composed letter that is not stored yet (``preview``)."""
    return _pdf(composed=composed, case=case)
