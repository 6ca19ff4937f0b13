"""The creditor's bank account, read from the settings at start (issue 11).

``MAHNWERK_CREDITOR_IBAN``, ``MAHNWERK_CREDITOR_BIC`` and the account holder
(``MAHNWERK_CREDITOR_ACCOUNT_HOLDER``, by default the creditor's name) are checked with
schwifty, the well-kept library for IBANs and BICs: a wrong check digit, a wrong length for the
country or a BIC that is not one refuses to start, naming the variable, so that no letter ever
prints an account the money cannot reach. No IBAN: no account, and the letters leave the bank
block out.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

#: The EPC QR code (GiroCode, EPC069-12) allows 70 characters for the payee's name.
HOLDER_MAX = 70


def account(*, iban: str, bic: str, holder: str) -> dict[str, str] | None:
    """The account as the letters use it (``iban`` in electronic form, ``iban_printed`` in
    groups of four, ``bic``, ``holder``), or None without an IBAN; raises ImproperlyConfigured
    naming the variable that is wrong."""
    from schwifty import BIC, IBAN
    from schwifty.exceptions import SchwiftyException

    if not (iban or "").strip():
        if (bic or "").strip():
            raise ImproperlyConfigured(
                "MAHNWERK_CREDITOR_BIC is set but MAHNWERK_CREDITOR_IBAN is not: set both "
                "(or neither, and the letters print no bank account).")
        return None
    try:
        checked = IBAN(iban)
    except SchwiftyException as exc:
        raise ImproperlyConfigured(
            f"MAHNWERK_CREDITOR_IBAN={iban!r} is not a valid IBAN ({exc}); Mahnwerk does not "
            "start with it, so that no letter prints an account the money cannot reach."
        ) from None
    code = (bic or "").strip()
    if code:
        try:
            checked_bic = BIC(code)
        except SchwiftyException as exc:
            raise ImproperlyConfigured(
                f"MAHNWERK_CREDITOR_BIC={code!r} is not a valid BIC ({exc}).") from None
        code = str(checked_bic)
    elif checked.bic is not None:  # a German IBAN names its bank: its BIC is known
        code = str(checked.bic)
    name = " ".join((holder or "").split())
    if not name:
        raise ImproperlyConfigured(
            "MAHNWERK_CREDITOR_ACCOUNT_HOLDER is empty (and so is MAHNWERK_CREDITOR_NAME): a "
            "transfer needs the account holder's name.")
    if len(name) > HOLDER_MAX:
        raise ImproperlyConfigured(
            f"MAHNWERK_CREDITOR_ACCOUNT_HOLDER is {len(name)} characters long; a transfer (and "
            f"the GiroCode) takes at most {HOLDER_MAX}.")
    return {"iban": checked.compact, "iban_printed": checked.formatted, "bic": code,
            "holder": name}
