"""The two QR codes of a letter on paper (issue 11), drawn by segno as SVG for Typst.

    link_qr     the letter's short link (``<site>/z/<code>``): the phone's camera opens the
                offer page
    girocode    the GiroCode (EPC QR code, EPC069-12, "BCD" version 002, SEPA credit transfer):
                the creditor's account, its holder and BIC, the amount in EUR and the payment
                reference; every German banking app fills a transfer from it. Euro only: a
                letter in another currency gets none (``None``)

segno's ``make`` and ``helpers.make_epc_qr`` try all eight mask patterns and keep the best
(8-9 ms a code on the benchmark machine, more than the whole Typst layout of a letter); any
mask is valid (ISO/IEC 18004), so both codes use one fixed mask (under 2 ms). The GiroCode's
payload is segno's own, validated by it (``segno.helpers._make_epc_qr_data``, the data that
``make_epc_qr`` encodes); should a segno release drop that function, ``make_epc_qr`` itself is
used. Error correction M, as EPC069-12 asks for the GiroCode.
"""

from __future__ import annotations

import io
from decimal import Decimal

import segno
import segno.helpers

#: One mask for every code (see above).
MASK = 2
#: The quiet zone around a code, in modules (the letter's white space adds to it).
BORDER = 2
EUR = "EUR"


def _svg(code: segno.QRCode) -> str:
    out = io.BytesIO()
    code.save(out, kind="svg", xmldecl=False, svgns=True, nl=False, border=BORDER)
    return out.getvalue().decode("ascii")


def link_qr(text: str) -> str:
    """The QR code of a link, as SVG."""
    return _svg(segno.make(text, error="m", mask=MASK, micro=False))


def girocode(*, account: dict[str, str], amount: Decimal, currency: str,
             reference: str) -> str | None:
    """The GiroCode of a transfer to ``account`` (``bank_account.account``), as SVG; None for
    another currency than EUR or an amount the EPC code cannot carry (0.01 to 999,999,999.99).
    """
    if currency != EUR or not Decimal("0.01") <= amount <= Decimal("999999999.99"):
        return None
    fields = {"name": account["holder"], "iban": account["iban"], "amount": amount,
              "text": reference, "bic": account.get("bic") or None}
    data_of = getattr(segno.helpers, "_make_epc_qr_data", None)
    if data_of is None:  # a segno without it: the slower public function
        return _svg(segno.helpers.make_epc_qr(**fields))
    return _svg(segno.make_qr(data_of(**fields), error="m", boost_error=False, mask=MASK))
