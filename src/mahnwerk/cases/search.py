"""Finding a case by what support knows of it: the order id, an invoice number, the buyer's
first, last or full name, or the e-mail address, whatever the case and the accents.

Each case keeps one search column (``DebtCase.search_text``): those values of its order folded
to lower case without accents (``fold``: "Zänker" → "zanker", "Straße" → "strasse"). A search
folds its words the same way and asks for cases whose column holds every word, so "Zanker",
"zänker" and "ZÄNKER" find Frau Zänker, "erika zanker" finds her by her full name, on SQLite
and PostgreSQL alike; PostgreSQL answers from a trigram index on the column (migration
``0009_search_text``), SQLite by reading the column of every case (docs/benchmarks.md).

German writers without umlauts on their keyboard type "ae" for "ä": the column holds that
spelling too, so "Zaenker" finds her as well.

The column is an index of the order's data, not a fact of the case: it is written when a case
opens, when the platform sends its order again (``cases.receivers``) and when the buyer's data
is anonymised (``ops.privacy``), without an event on the timeline.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from django.db import transaction
from django.db.models import Q, QuerySet

from mahnwerk import bulk
from mahnwerk.cases.models import DebtCase
from mahnwerk.intake.models import Order

#: Letters that do not fall apart into a base letter and an accent.
_SPECIAL = str.maketrans({"ß": "ss", "ẞ": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d",
                          "ł": "l", "ı": "i", "þ": "th"})
#: The German way of writing umlauts without them.
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})

#: The order's fields a search looks at.
ORDER_FIELDS = ("order_id", "first_invoice_number", "buyer_first_name", "buyer_last_name",
                "buyer_email")


def fold(text: str) -> str:
    """Lower case, accents off, one space between words: ``"  Zänker-Öz "`` → ``"zanker-oz"``."""
    text = text or ""
    if text.isascii():  # an id, an e-mail, most names: nothing to take apart (``_fold_any``)
        return " ".join(text.lower().split())
    return _fold_any(text)


def _fold_any(text: str) -> str:
    """``fold`` of any text. ASCII text comes out of it lower case with its spaces as
    ``fold``'s short way leaves them (its letters have no accents, ``_SPECIAL`` has none of
    them), which costs a tenth: a file of incidents folds ten values for each case it opens."""
    text = unicodedata.normalize("NFKD", text.casefold().translate(_SPECIAL))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.translate(_SPECIAL).split())


def _german(text: str) -> str:
    if (text or "").isascii():  # no umlaut to write the German way: ``fold`` itself
        return fold(text)
    return fold(unicodedata.normalize("NFC", text.casefold()).translate(_GERMAN))


def search_text(*, order_id: str, first_invoice_number: str = "", buyer_first_name: str = "",
                buyer_last_name: str = "", buyer_email: str = "",
                case_invoice_number: str = "") -> str:
    """What a case's search column holds for its order: each value folded, separated by
    ``|`` so that a search never matches across two fields (a full name is one field)."""
    full_name = f"{buyer_first_name} {buyer_last_name}"
    values = [order_id, first_invoice_number, case_invoice_number, full_name, buyer_email]
    parts: list[str] = []
    for value in values:
        for spelling in (fold(value),) if value.isascii() else (fold(value), _german(value)):
            if spelling and spelling not in parts:
                parts.append(spelling)
    return "|" + "|".join(parts) + "|"


def words(text: str) -> list[str]:
    """The folded words of what support typed (``|`` cannot be searched for)."""
    return [word for word in fold(text.replace("|", " ")).split() if word]


def matching(rows: QuerySet, text: str, *, field: str = "search_text") -> QuerySet:
    """The cases whose order holds every word of ``text`` (in any of the searched fields);
    ``field`` reaches the search column from another list (``case__search_text`` for a run's
    decisions)."""
    found = words(text)
    if not found:
        return rows
    condition = Q()
    for word in found:
        condition &= Q(**{f"{field}__contains": word})
    return rows.filter(condition)


def _text_of(row: dict[str, str], case_invoice_number: str = "") -> str:
    return search_text(**{name: row[name] or "" for name in ORDER_FIELDS},
                       case_invoice_number=case_invoice_number)


def for_new_case(order: Order, case_invoice_number: str = "") -> str:
    return _text_of({name: getattr(order, name) for name in ORDER_FIELDS}, case_invoice_number)


#: The order's fields kept on the case as they are, to sort by (the buyer's name).
SORT_FIELDS = ("buyer_last_name", "buyer_first_name")


def sort_fields_of(order: Order) -> dict[str, str]:
    """What a new case keeps of its order to sort by."""
    return {name: getattr(order, name) or "" for name in SORT_FIELDS}


@transaction.atomic(savepoint=False)
def refresh(*, order_ids: Iterable[str]) -> int:
    """Write the search column (and the buyer's name the list sorts by) of the cases of these
    orders afresh from the orders; returns how many cases changed. A few queries per 900
    orders (an import sends thousands)."""
    ids: Sequence[str] = list(order_ids)
    changed = 0
    if not ids or not DebtCase.objects.exists():  # an import of orders before any debt
        return 0
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        cases = list(DebtCase.objects.filter(order_id__in=chunk)
                     .values_list("pk", "order_id", "first_invoice_number", "search_text",
                                  *SORT_FIELDS))
        if not cases:
            continue
        orders = {row["order_id"]: row for row in Order.objects.filter(
            pk__in=[c[1] for c in cases]).values(*ORDER_FIELDS, *SORT_FIELDS)}
        rows = []
        for pk, order_id, invoice, *current in cases:
            order = orders[order_id]
            new = [_text_of(order, invoice), *(order[name] or "" for name in SORT_FIELDS)]
            if new != current:
                rows.append({"id": pk, "search_text": new[0], **dict(zip(SORT_FIELDS, new[1:],
                                                                            strict=True))})
        changed += bulk.update_rows(DebtCase, rows, ["search_text", *SORT_FIELDS])
    return changed
