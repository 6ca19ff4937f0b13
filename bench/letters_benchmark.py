"""Benchmark: composing dunning letters (the e-mail bodies) and rendering their PDFs.

    .venv/bin/python bench/letters_benchmark.py [-n 500] [--workers 1]

1. builds a fresh SQLite database (bench/out/letters.sqlite3) with ``n`` open cases, the
   standard policy and letters of the data migration;
2. composes ``n`` letters (``letters.compose``: template lookup, figures, subject, HTML and
   text), alternating level 1 and 2, German and every fifth English, and stores them;
3. renders the ``n`` stored letters as PDF (``letters.render_pdf``, Typst) and prints letters
   per second of wall time and per second of CPU time (one process; Typst may use more than
   one thread, so both are shown);
4. with ``--workers K`` also renders them in K processes and prints the combined rate.

Every letter has an offer link with a code, so its PDF carries the short link's QR code, and the
creditor's account is set (the demo's example IBAN), so it carries the bank block and the
GiroCode too (issue 11); ``--no-account`` renders them without the account.

Target (issue 3, and issue 11 with the two QR codes): PDF letters at 50 per second per core or
more.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
DB = HERE / "out" / "letters.sqlite3"
BERLIN = ZoneInfo("Europe/Berlin")


def setup_django(*, fresh: bool) -> None:
    sys.path.insert(0, str(HERE.parent / "src"))
    if fresh:
        DB.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DB}{suffix}").unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mahnwerk.settings")
    import django

    django.setup()
    if fresh:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def build(n: int) -> None:
    from django.db import transaction
    from django.utils import timezone

    from mahnwerk.cases.models import DebtCase
    from mahnwerk.intake.models import Buyer, Order, Product, Vendor

    firsts = ["Jürgen", "Özlem", "Anna", "Björn", "Zoë", "Lukas"]
    lasts = ["Weiß", "Müller", "Schäfer", "Groß", "Nguyễn", "Kowalski"]
    with transaction.atomic():
        vendors = Vendor.objects.bulk_create(
            Vendor(vendor_id=f"V{i}", name=f"Akademie Süd {i} GmbH", email=f"v{i}@example.com",
                   enrolled=True) for i in range(10))
        products = Product.objects.bulk_create(
            Product(product_id=f"P{i}", vendor=vendors[i % 10], name=f"Online-Kurs Führung {i}",
                    dunning_enabled=True, checkout_url=f"https://checkout.example/p/P{i}")
            for i in range(50))
        buyers = Buyer.objects.bulk_create(
            Buyer(buyer_id=f"B{i}", email=f"kaeufer{i}@example.org",
                  first_name=firsts[i % 6], last_name=lasts[i % 6]) for i in range(n))
        orders = Order.objects.bulk_create(
            Order(order_id=f"O{100000 + i}", vendor=products[i % 50].vendor,
                  product=products[i % 50], buyer=buyers[i], buyer_email=buyers[i].email,
                  buyer_first_name=buyers[i].first_name, buyer_last_name=buyers[i].last_name,
                  street="Königstraße", house_number=str(1 + i % 200),
                  postcode=f"{10000 + i % 89999:05d}", city="Düsseldorf", country="DE",
                  payment_type="installments" if i % 2 else "one_time",
                  amount_total=Decimal("600.00"), currency="EUR",
                  created_at=datetime(2025, 5, 2, 10, 0, tzinfo=BERLIN)
                  + timedelta(hours=i), first_invoice_number=f"RE-2025-{i:06d}")
            for i in range(n))
        DebtCase.objects.bulk_create(
            DebtCase(order=order, vendor_id=order.vendor_id, state="dunning",
                     trigger="stopped_installments",
                     open_amount=Decimal(100 + (i * 37) % 900) + Decimal("0.45"),
                     currency="EUR", first_invoice_number=order.first_invoice_number,
                     first_dunning_letter=date(2025, 7, 1), opened_at=timezone.now())
            for i, order in enumerate(orders))


def compose_all(n: int) -> tuple[int, float]:
    from mahnwerk.cases import links
    from mahnwerk.cases.models import DebtCase
    from mahnwerk.dunning import letters, offers
    from mahnwerk.dunning.models import DunningPolicy, Letter

    policy = DunningPolicy.objects.prefetch_related("levels").get(vendor__isnull=True)
    policy.interest_enabled = True
    cases = list(DebtCase.objects.select_related("order", "order__product", "vendor")[:n])
    start = time.perf_counter()
    composed = []
    for i, case in enumerate(cases):
        composed.append((case, letters.compose(
            case=case, level=1 + i % 2, letter_date=date(2025, 8, 1), policy=policy,
            offer_link=offers.offer_link(case=case, token=links.new_code()),
            language="en" if i % 5 == 4 else "de")))
    seconds = time.perf_counter() - start
    Letter.objects.bulk_create(
        Letter(case=case, level=c.level, letter_date=c.letter_date, deadline=c.deadline,
               language=c.language, principal=c.principal, fees=c.fees, interest=c.interest,
               currency=c.currency, offer_link=c.offer_link, subject=c.subject,
               body_html=c.body_html, body_text=c.body_text) for case, c in composed)
    return len(composed), seconds


def _letters(ids: list[int] | None = None):
    from mahnwerk.dunning.models import Letter

    query = Letter.objects.select_related("case", "case__order", "case__order__product",
                                          "case__vendor").order_by("pk")
    return list(query.filter(pk__in=ids) if ids is not None else query)


def render(ids: list[int]) -> int:
    """Render the letters with these ids (in a worker process); returns the bytes written."""
    from mahnwerk.dunning import letters

    return sum(len(letters.render_pdf(letter)) for letter in _letters(ids))


def _worker_init() -> None:
    setup_django(fresh=False)
    from mahnwerk.dunning import letters

    letters._compiler()  # fonts loaded before the clock runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=500, help="letters (default 500)")
    parser.add_argument("--workers", type=int, default=1,
                        help="also render in this many processes (default: only one)")
    parser.add_argument("--no-account", action="store_true",
                        help="letters without the bank block and the GiroCode")
    args = parser.parse_args()
    if args.no_account:
        os.environ["MAHNWERK_CREDITOR_IBAN"] = os.environ["MAHNWERK_CREDITOR_BIC"] = ""
    else:
        os.environ.setdefault("MAHNWERK_CREDITOR_IBAN", "DE89370400440532013000")
    setup_django(fresh=True)
    from django.conf import settings

    from mahnwerk.dunning import letters

    print(f"account: {settings.MAHNWERK_CREDITOR_ACCOUNT or 'none'}", flush=True)

    build(args.n)
    made, seconds = compose_all(args.n)
    print(f"compose: {made} letters in {seconds:.2f} s ({made / seconds:,.0f} letters/s; "
          f"template lookup, figures, subject, HTML and text)", flush=True)

    sample = _letters()
    start = time.perf_counter()
    letters.render_pdf(sample[0])
    print(f"pdf: first letter (fonts loaded, layout parsed) "
          f"{(time.perf_counter() - start) * 1000:.0f} ms", flush=True)
    start, cpu = time.perf_counter(), time.process_time()
    size = sum(len(letters.render_pdf(letter)) for letter in sample)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"pdf: {len(sample)} letters in {seconds:.2f} s: {len(sample) / seconds:,.0f} "
          f"letters/s in one process, {len(sample) / cpu:,.0f} per CPU second; "
          f"{size / len(sample) / 1024:.0f} KiB a letter", flush=True)

    if args.workers > 1:
        ids = [letter.pk for letter in sample]
        chunks = [ids[i::args.workers] for i in range(args.workers)]
        # spawn, not fork: the parent's Typst compiler has threads of its own.
        with ProcessPoolExecutor(args.workers, initializer=_worker_init,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(render, [chunk[:1] for chunk in chunks]))  # warm
            start = time.perf_counter()
            list(pool.map(render, chunks))
            seconds = time.perf_counter() - start
        print(f"pdf: {len(ids)} letters in {args.workers} processes in {seconds:.2f} s: "
              f"{len(ids) / seconds:,.0f} letters/s ({os.cpu_count()} CPUs)", flush=True)


if __name__ == "__main__":
    main()
