"""Is a buyer's address complete, and does its postcode fit its country?

A small table of postcode patterns, written here because the libraries that know postcodes
(pgeocode and the like) download their data at run time, which production must not depend on.
Patterns follow each postal service's published format.
"""

import re

from django.utils.translation import gettext_lazy as _

POSTCODE_PATTERNS: dict[str, re.Pattern[str]] = {
    code: re.compile(pattern)
    for code, pattern in {
        "DE": r"\d{5}",
        "AT": r"\d{4}",
        "CH": r"\d{4}",
        "LI": r"\d{4}",
        "LU": r"(L-?)?\d{4}",
        "BE": r"\d{4}",
        "DK": r"\d{4}",
        "NL": r"\d{4} ?[A-Z]{2}",
        "FR": r"\d{5}",
        "IT": r"\d{5}",
        "ES": r"\d{5}",
        "PT": r"\d{4}-\d{3}",
        "PL": r"\d{2}-\d{3}",
        "CZ": r"\d{3} ?\d{2}",
        "SE": r"\d{3} ?\d{2}",
        "GB": r"(GIR ?0AA|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})",
        "US": r"\d{5}(-\d{4})?",
    }.items()
}

REQUIRED_PARTS = ("street", "house_number", "postcode", "city", "country")
#: The problem code for a postcode that does not fit the country.
POSTCODE_MISMATCH = "postcode_country"


def address_problems(*, street: str, house_number: str, postcode: str, city: str,
                     country: str) -> list[str]:
    """Codes of what makes an address unusable for a letter; empty when it is usable.

    A missing part is named by its field (``street``, ``postcode``, ...); a postcode that does
    not fit the country is ``postcode_country``. ``describe`` turns codes into words.
    """
    parts = {"street": street, "house_number": house_number, "postcode": postcode,
             "city": city, "country": country}
    problems = [name for name in REQUIRED_PARTS if not (parts[name] or "").strip()]
    code = (country or "").strip().upper()
    pattern = POSTCODE_PATTERNS.get(code)
    if (postcode or "").strip() and pattern is not None \
            and not pattern.fullmatch(postcode.strip().upper()):
        problems.append(POSTCODE_MISMATCH)
    return problems


def describe(codes: list[str], *, postcode: str = "", country: str = "") -> str:
    """The problems in the reader's language, e.g. "Straße fehlt; PLZ 1234 passt nicht ..."."""
    labels = {"street": _("street"), "house_number": _("house number"),
              "postcode": _("postcode"), "city": _("city"), "country": _("country")}
    texts = []
    for code in codes:
        if code == POSTCODE_MISMATCH:
            texts.append(str(_("postcode %(postcode)s does not fit country %(country)s")
                             % {"postcode": postcode, "country": country}))
        elif code in labels:
            texts.append(str(_("%(part)s missing") % {"part": labels[code]}))
    return "; ".join(texts)


def usable_email(value: str | None) -> str:
    """The buyer's e-mail address if a letter can be sent to it, else ``""`` (then the letter
    goes by post)."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    address = (value or "").strip()
    if not address:
        return ""
    try:
        validate_email(address)
    except ValidationError:
        return ""
    return address
