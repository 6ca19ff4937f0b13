"""Reading a bank's statement in camt.053 (ISO 20022 BankToCustomerStatement).

Versions camt.053.001.02 to .13 share the parts read here (tests read .02 and .08):

    Document/BkToCstmrStmt/Stmt            one or more statements (one per account and day)
      Id, CreDtTm, Acct/Id/IBAN (or Othr/Id), Acct/Ccy
      Ntry                                  one booking
        NtryRef, AcctSvcrRef                the bank's reference of the booking
        Amt @Ccy, CdtDbtInd (CRDT/DBIT), Sts (BOOK, or Sts/Cd from .08)
        BookgDt/Dt|DtTm, ValDt/Dt|DtTm, AddtlNtryInf
        NtryDtls/TxDtls                     one or more transfers in the booking
          Refs/EndToEndId, Refs/AcctSvcrRef
          Amt @Ccy or AmtDtls/TxAmt/Amt     the transfer's own amount (a batch booking)
          RltdPties/Dbtr/Nm (Dbtr/Pty/Nm from .08), RltdPties/DbtrAcct/Id/IBAN
          RmtInf/Ustrd (repeated), RmtInf/Strd/CdtrRefInf/Ref

A booking with one transfer is one line; a batch booking with several transfers that carry
their own amounts is a line per transfer. Anything else in the file is not read.

Parsed with the standard library's ElementTree, guarded by defusedxml: a statement is a file
from outside. A first look through defusedxml reads up to the root element and refuses a DTD
(with it, entity declarations: billion laughs, XXE), which XML allows only before the root; the
file, known then to have none, is read with ElementTree's C parser (defusedxml's parser is a
pure-Python subclass, five times slower on a statement of 100,000 bookings).
No camt library on PyPI is both well kept and small (the ones found are 0.0.x releases or carry
a treasury suite); the part of the format needed here is the short list above. The whole file is
read before anything is written, so a broken file applies nothing; errors name the file, and
the line and column (XML errors) or the statement and booking (a part missing).
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from django.utils.translation import gettext as _

_CAMT053 = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(\d\d)$")
_ANY_NS = re.compile(r"^\{([^}]*)\}(.*)$")


class StatementError(Exception):
    """A file that cannot be read as a camt.053 statement; nothing was applied."""


@dataclass(slots=True)
class Entry:
    """One credit or debit of a statement, as the matcher needs it."""

    position: int  # 1-based, in the file's order (a batch booking's transfers each count)
    account: str  # the statement's account (IBAN), spaces taken out
    entry_key: str  # the bank's reference (AcctSvcrRef), or a digest where there is none
    amount: Decimal
    currency: str
    credit: bool
    booked: bool
    booking_date: date | None
    value_date: date | None
    remitter_name: str = ""
    remitter_iban: str = ""
    text: str = ""  # the remittance information, lines joined by a space
    end_to_end: str = ""


@dataclass
class Statement:
    statement_id: str
    account: str
    currency: str
    version: str
    entries: list[Entry] = field(default_factory=list)


def _child(element, *path: str):
    """The first element along ``path`` (local names: the reader strips the namespace from
    each element as it ends), or None."""
    return element.find("/".join(path)) if element is not None else None


def _children(element, name: str) -> list:
    return element.findall(name) if element is not None else []


def _text(element, *path: str) -> str:
    found = _child(element, *path)
    return (found.text or "").strip() if found is not None else ""


def _date(element, name: str) -> date | None:
    holder = _child(element, name)
    value = _text(holder, "Dt") or _text(holder, "DtTm")[:10]
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _amount(element) -> tuple[Decimal, str] | None:
    if element is None or not (element.text or "").strip():
        return None
    try:
        amount = Decimal(element.text.strip())
    except InvalidOperation:
        return None
    return amount, (element.get("Ccy") or "").strip().upper()


def _party_name(details) -> str:
    """The remitter: the debtor's name (.02: Dbtr/Nm; .08: Dbtr/Pty/Nm), else the ultimate
    debtor's."""
    for party in ("Dbtr", "UltmtDbtr"):
        name = _text(details, "RltdPties", party, "Nm") or \
            _text(details, "RltdPties", party, "Pty", "Nm")
        if name:
            return name
    return ""


def _remittance(details) -> str:
    info = _child(details, "RmtInf")
    parts = [(u.text or "").strip() for u in _children(info, "Ustrd")]
    for structured in _children(info, "Strd"):
        ref = _text(structured, "CdtrRefInf", "Ref")
        if ref:
            parts.append(ref)
        parts.extend((a.text or "").strip() for a in _children(structured, "AddtlRmtInf"))
    return " ".join(p for p in parts if p)


def _status(entry) -> str:
    status = _child(entry, "Sts")
    if status is None:
        return ""
    return (_text(status, "Cd") or (status.text or "")).strip().upper()


def parse(data: bytes, *, name: str) -> Statement:
    """The statements of a camt.053 file, merged into one (``Statement.entries`` in file
    order); raises ``StatementError`` with the place of the problem."""
    if not data.strip():
        raise StatementError(_("%(file)s: the file is empty. Nothing was applied.")
                             % {"file": name})
    if data.lstrip()[:1] != b"<":
        hint = _(" It looks like MT940 (SWIFT), which is not read: ask the bank for camt.053.") \
            if data.lstrip().startswith((b":20:", b"{1:", b":940")) else ""
        raise StatementError(_("%(file)s:1: not an XML file, so no camt.053 statement.%(hint)s"
                               " Nothing was applied.") % {"file": name, "hint": hint})
    statements: list[tuple[str, str, str]] = []
    entries: list[Entry] = []
    version = ""
    account = ""  # of the statement being read (Acct comes before its bookings)
    try:
        # The root first (a look at the first element), so that another kind of XML file is
        # refused before it is read whole.
        _event, root = next(iterparse(io.BytesIO(data), events=("start",), forbid_dtd=True))
        namespace = _ANY_NS.match(root.tag)
        found = _CAMT053.match(namespace.group(1)) if namespace else None
        if namespace is None or namespace.group(2) != "Document" or found is None \
                or found.group(1) < "02":
            what = namespace.group(1) if namespace else root.tag
            raise StatementError(_(
                "%(file)s:1: not a camt.053 bank statement (the document is %(what)s); "
                "camt.053.001.02 to .13 are read. Nothing was applied.")
                % {"file": name, "what": what})
        version = found.group(1)
        prefix = "{" + namespace.group(1) + "}"
        cut = len(prefix)
        stmt_index = 0
        for _event, element in ElementTree.iterparse(io.BytesIO(data), events=("end",)):
            tag = element.tag
            if tag.startswith(prefix):
                tag = element.tag = tag[cut:]
            if tag == "Acct" and not account:
                account = (_text(element, "Id", "IBAN") or _text(element, "Id", "Othr", "Id")
                           ).replace(" ", "").upper()
            elif tag == "Ntry":
                entries.extend(_entries(element, position=len(entries) + 1, account=account,
                                        stmt=len(statements) + 1, name=name))
                element.clear()  # a statement of 100,000 bookings is read in passing
            elif tag == "Stmt":
                stmt_index += 1
                statement_id = _text(element, "Id")
                if not statement_id or not account:
                    raise StatementError(_(
                        "%(file)s: statement %(n)d has no %(what)s. Nothing was applied.")
                        % {"file": name, "n": stmt_index,
                           "what": "Stmt/Id" if not statement_id else "Acct/Id"})
                statements.append((statement_id, account, _text(element, "Acct", "Ccy").upper()))
                account = ""
                element.clear()
    except StatementError:
        raise
    except DefusedXmlException as exc:
        raise StatementError(_("%(file)s: refused: %(error)s (entities and DTDs are not "
                               "allowed in a statement). Nothing was applied.")
                             % {"file": name, "error": type(exc).__name__}) from None
    except SyntaxError as exc:  # ElementTree's ParseError, with (line, column)
        line, column = getattr(exc, "position", (0, 0))
        raise StatementError(_("%(file)s:%(line)d:%(column)d: broken XML: %(error)s. Nothing "
                               "was applied.") % {"file": name, "line": line,
                                                 "column": column + 1, "error": exc.msg
                                                 if hasattr(exc, "msg") else exc}) from None
    if not statements:
        raise StatementError(_("%(file)s: a camt.053 document without a statement (Stmt). "
                               "Nothing was applied.") % {"file": name})
    ids = sorted({s[0] for s in statements})
    accounts = sorted({s[1] for s in statements})
    return Statement(statement_id=", ".join(ids)[:140], account=", ".join(accounts)[:140],
                     currency=statements[0][2], version=f"camt.053.001.{version}",
                     entries=entries)


def _entries(entry, *, position: int, account: str, stmt: int, name: str) -> list[Entry]:
    def where() -> str:  # only for a message: translating it for each booking costs seconds
        return _("%(file)s: statement %(stmt)d, booking %(n)d") % {
            "file": name, "stmt": stmt, "n": position}

    amount = _amount(_child(entry, "Amt"))
    if amount is None or not amount[1]:
        raise StatementError(_("%(where)s: no amount with a currency (Amt Ccy=…). Nothing was "
                               "applied.") % {"where": where()})
    indicator = _text(entry, "CdtDbtInd").upper()
    if indicator not in ("CRDT", "DBIT"):
        raise StatementError(_("%(where)s: CdtDbtInd is %(value)s, not CRDT or DBIT. Nothing "
                               "was applied.") % {"where": where(), "value": indicator or "—"})
    if amount[0] < 0:
        raise StatementError(_("%(where)s: a negative amount (%(value)s); camt.053 gives the "
                               "direction in CdtDbtInd. Nothing was applied.")
                             % {"where": where(), "value": amount[0]})
    bank_ref = _text(entry, "AcctSvcrRef") or _text(entry, "NtryRef")
    common = {
        "credit": indicator == "CRDT", "booked": _status(entry) in ("BOOK", ""),
        "booking_date": _date(entry, "BookgDt"), "value_date": _date(entry, "ValDt"),
    }
    transfers = [t for d in _children(entry, "NtryDtls") for t in _children(d, "TxDtls")]
    own_amounts = [_amount(_child(t, "Amt")) or _amount(_child(t, "AmtDtls", "TxAmt", "Amt"))
                   for t in transfers]
    if len(transfers) > 1 and all(own_amounts):
        parts = list(zip(transfers, own_amounts, strict=True))
    else:
        parts = [(transfers[0] if transfers else None, amount)]
    lines = []
    for number, (details, (value, currency)) in enumerate(parts, start=1):
        text = " ".join(p for p in (_remittance(details) if details is not None else "",
                                    _text(entry, "AddtlNtryInf") if len(parts) == 1 else "")
                        if p)
        ref = bank_ref or _text(details, "Refs", "AcctSvcrRef")
        if not ref:  # no reference from the bank: the booking's content stands for it
            ref = "sha:" + hashlib.sha256("\x1f".join(map(str, (
                common["booking_date"], value, currency, indicator, text,
                _text(details, "Refs", "EndToEndId"), position))).encode()).hexdigest()[:32]
        lines.append(Entry(
            position=position + number - 1, account=account,
            entry_key=f"{ref}/{number}" if len(parts) > 1 else ref,
            amount=value, currency=currency or amount[1], **common,
            remitter_name=_party_name(details)[:140] if details is not None else "",
            remitter_iban=_text(details, "RltdPties", "DbtrAcct", "Id", "IBAN")
            if details is not None else "",
            text=text[:1000], end_to_end=_text(details, "Refs", "EndToEndId")[:64]
            if details is not None else ""))
    return lines


def write(*, statement_id: str, account: str, bookings: list[dict], day: date) -> bytes:
    """A camt.053.001.08 statement of ``bookings`` (``amount``, ``text``, ``name``, optional
    ``ref``, ``credit`` and ``currency``): what the demo's month and the benchmark read."""
    from xml.sax.saxutils import escape

    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>{escape(statement_id)}</MsgId>"
        f"<CreDtTm>{day.isoformat()}T06:00:00+01:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{escape(statement_id)}</Id><Acct><Id><IBAN>{escape(account)}</IBAN></Id>"
        "<Ccy>EUR</Ccy></Acct>\n"]
    for n, booking in enumerate(bookings, start=1):
        parts.append(
            f'<Ntry><Amt Ccy="{booking.get("currency", "EUR")}">{booking["amount"]}</Amt>'
            f"<CdtDbtInd>{'CRDT' if booking.get('credit', True) else 'DBIT'}</CdtDbtInd>"
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{day.isoformat()}</Dt></BookgDt>"
            f"<ValDt><Dt>{day.isoformat()}</Dt></ValDt>"
            f"<AcctSvcrRef>{escape(booking.get('ref') or f'{statement_id}-{n}')}</AcctSvcrRef>"
            "<NtryDtls><TxDtls><RltdPties><Dbtr><Pty>"
            f"<Nm>{escape(booking.get('name', ''))}</Nm></Pty></Dbtr></RltdPties>"
            f"<RmtInf><Ustrd>{escape(booking.get('text', ''))}</Ustrd></RmtInf>"
            "</TxDtls></NtryDtls></Ntry>\n")
    parts.append("</Stmt></BkToCstmrStmt></Document>\n")
    return "".join(parts).encode()
