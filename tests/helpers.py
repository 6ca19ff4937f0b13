"""Small steps that tests share: platform data sent in through the same services as production."""

import subprocess
from datetime import date, datetime
from decimal import Decimal
from itertools import count
from pathlib import Path
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.dunning.models import Letter
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.services import apply_records, check_references

BERLIN = ZoneInfo("Europe/Berlin")
ZBAR = "http://zbar.sourceforge.net/2008/barcode"
_ids = count(1)


def send(feed_name: str, *raw_records: dict, actor: str = "test") -> None:
    """Send raw records as the platform would; fails the test on any problem."""
    feed = FEEDS[feed_name]
    records = []
    for raw in raw_records:
        record, problems = feed.parse(raw)
        assert not problems, problems
        records.append(record)
    reference_problems = check_references(feed=feed, records=records)
    assert not any(reference_problems), reference_problems
    apply_records(feed=feed, records=records, actor=actor)


def incident(order, *, open_amount="300.00", kind="stopped_installments",
             at=datetime(2025, 6, 1, 9, 0, tzinfo=BERLIN), incident_id=None) -> DebtCase:
    send("incidents", {
        "incident_id": incident_id or f"I{next(_ids)}", "order_id": order.order_id,
        "kind": kind, "occurred_at": at.isoformat(), "open_amount": str(open_amount),
        "currency": order.currency,
    })
    return DebtCase.objects.get(order_id=order.order_id)


def payment(order, *, amount="100.00", at=datetime(2025, 6, 20, 9, 0, tzinfo=BERLIN),
            payment_id=None, channel="offer_link") -> DebtCase | None:
    send("payments", {
        "payment_id": payment_id or f"PAY{next(_ids)}", "order_id": order.order_id,
        "amount": str(Decimal(amount)), "currency": order.currency, "paid_at": at.isoformat(),
        "channel": channel,
    })
    return DebtCase.objects.filter(order_id=order.order_id).first()


def order_record(order, **overrides) -> dict:
    """The platform's record of an order (as a raw feed row)."""
    record = {
        "order_id": order.order_id, "vendor_id": order.vendor_id,
        "product_id": order.product_id, "buyer_id": order.buyer_id,
        "buyer_email": order.buyer_email, "buyer_first_name": order.buyer_first_name,
        "buyer_last_name": order.buyer_last_name, "street": order.street,
        "house_number": order.house_number, "postcode": order.postcode, "city": order.city,
        "country": order.country, "payment_type": order.payment_type,
        "amount_total": str(order.amount_total), "currency": order.currency,
        "installments_total": order.installments_total,
        "installments_paid": order.installments_paid,
        "created_at": order.created_at.isoformat(), "sales_agent": order.sales_agent,
        "first_invoice_number": order.first_invoice_number,
    }
    record.update(overrides)
    return {k: ("" if v is None else v) for k, v in record.items()}


def lettered(case: DebtCase, first: date = date(2025, 7, 1),
             second: date = date(2025, 8, 1)) -> DebtCase:
    """A case as the dunning cycle leaves it: two letters on record."""
    for level, day in ((1, first), (2, second)):
        Letter.objects.create(case=case, cycle=case.cycle, level=level, letter_date=day,
                              deadline=day, dispatched_on=day,
                              template=("first", "second")[level - 1],
                              handover_column=("first_dunning_letter",
                                               "second_dunning_letter")[level - 1],
                              principal=case.open_amount, currency=case.currency,
                              offer_link="https://checkout.example/p/1?token=x",
                              subject="Mahnung", body_html="<p>x</p>", body_text="x")
    case_services.change_case(case=case, actor="t", reason="Briefe", to_state=CaseState.DUNNING,
                              changes={"first_dunning_letter": first,
                                       "second_dunning_letter": second,
                                       "offer_link": "https://checkout.example/p/1?token=x"})
    return case


def waiting(order) -> DebtCase:
    """The order's debt after two letters, unpaid: waiting for the vendor's approval."""
    case = lettered(incident(order))
    case_services.change_case(case=case, actor="run", reason="eskaliert",
                              to_state=CaseState.ON_HOLD)
    return case


def scan(pdf: bytes, tmp_path: Path) -> list[str]:
    """The QR codes a camera reads on the letter's first page."""
    (tmp_path / "letter.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-f", "1", "-l", "1", "-png",
                    str(tmp_path / "letter.pdf"), str(tmp_path / "page")], check=True)
    page = next(tmp_path.glob("page*.png"))
    found = subprocess.run(["zbarimg", "--quiet", "--xml", "-Sdisable", "-Sqrcode.enable",
                            str(page)], capture_output=True)
    assert found.returncode in (0, 4), found.stderr  # 4: no code on the page
    symbols = ElementTree.fromstring(found.stdout).iter(f"{{{ZBAR}}}data")
    return [symbol.text or "" for symbol in symbols]


def stop_processes(processes) -> None:
    """SIGTERM to every process still running, then wait for each (30 s, then SIGKILL): how
    the tests end the worker processes they started."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
