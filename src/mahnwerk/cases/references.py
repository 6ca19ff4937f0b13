"""The reference a buyer quotes with a bank transfer (issue 11), and reading it back.

    payment_reference   what a letter asks the buyer to quote and puts into its GiroCode:
                        ``MW <order id> / <invoice number>`` (without an invoice number,
                        ``MW <order id>``), at most 140 characters (the SEPA remittance
                        information and the EPC QR code's text), short enough to type into a
                        banking app
    parse_reference     the order id and invoice number in a remittance text as a bank
                        statement brings it back: upper or lower case, a colon after "MW",
                        spaces around the slash, other words before and after
    compact             a text reduced to its capital letters and digits, for a tolerant
                        comparison (banks break long remittance lines with spaces, drop
                        characters outside the SEPA character set, change case)

"MW" marks the reference, so that it is found among other words a buyer writes ("Rechnung",
a customer number ...); the order id is the case's key, the invoice number what the buyer
finds on the invoice. The bank statement import (issue 11, point 3) reads it with
``parse_reference`` and ``compact``; the letters write it with ``payment_reference``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mahnwerk.cases.models import DebtCase

MARK = "MW"
#: The SEPA remittance information (unstructured) and the EPC QR code's text: 140 characters.
REFERENCE_MAX = 140

_REFERENCE = re.compile(
    r"(?<![A-Za-z0-9])MW\s*[:.]?\s*(?P<order>[A-Za-z0-9][A-Za-z0-9._-]*)"
    r"(?:\s*/\s*(?P<invoice>[^\s/]+))?", re.IGNORECASE)
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")


@dataclass(frozen=True, slots=True)
class Reference:
    order_id: str
    invoice: str  # "" when the text named none


def reference_for(*, order_id: str, invoice: str = "") -> str:
    """The reference of an order id and invoice number (``payment_reference`` of a case)."""
    text = f"{MARK} {order_id}"
    if invoice and len(f"{text} / {invoice}") <= REFERENCE_MAX:
        text = f"{text} / {invoice}"
    return text[:REFERENCE_MAX]


def payment_reference(case: DebtCase) -> str:
    """What the buyer quotes with a transfer for this case: ``MW 10023 / RE-2026-1001``."""
    invoice = case.first_invoice_number or case.order.first_invoice_number
    return reference_for(order_id=case.order_id, invoice=invoice)


def parse_reference(text: str) -> Reference | None:
    """The first reference in a remittance text, or None when it names none."""
    match = _REFERENCE.search(text or "")
    if match is None:
        return None
    return Reference(order_id=match["order"].rstrip("._-"), invoice=match["invoice"] or "")


def compact(text: str) -> str:
    """Capital letters and digits only: ``"mw 10023 / re-2026-1001"`` → ``"MW10023RE20261001"``."""
    return _NOT_ALNUM.sub("", (text or "").upper())
