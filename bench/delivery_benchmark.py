"""Benchmark: delivering queued e-mail letters with their PDFs over Celery workers (issue 12).

    .venv/bin/python bench/delivery_benchmark.py [--letters 100000] [--workers 1 2]
        [--postgres postgres://postgres@127.0.0.1:5432/x] [--redis redis://127.0.0.1:6379/8]
        [--keep] [--in-process]

1. builds ``--letters`` e-mail letters waiting in the outbox on PostgreSQL (the database
   ``deliver_bench``; ``--keep`` reuses the one an earlier call built): vendors, products,
   buyers, orders and cases with plain inserts; 200 letters composed for real
   (``letters.compose``, with offer links carrying a code and the creditor's account, so each
   PDF has its two QR codes), the others with their words, names and order ids; one queued
   e-mail outbox message per letter;
2. the floor: renders 300 of the letters' PDFs in this process (``letters.render_pdf``, the
   address read beforehand): ms per PDF, wall and CPU;
3. starts a real SMTP server on loopback in a process of its own (aiosmtpd, counting the
   messages and their Message-IDs, discarding them);
4. for each ``--workers K``: puts every message back in the queue, starts K Celery worker
   processes (``--pool solo``: one message at a time each) on Redis (``--redis``, flushed),
   hands the outbox out as the schedule does (``tasks.deliver_outbox``: one task per chunk of
   ``MAHNWERK_OUTBOX_CHUNK``) and waits until every message is sent; prints messages per
   second, the workers' ms per message (wall time × K / messages, and their CPU time per
   message) beside the ms per PDF, and the ratio. ``--in-process`` delivers in this process
   instead (``delivery.deliver_all``, as ``mahnwerk deliver-outbox``; for py-spy).

At the end the SMTP server says how many messages it received and how many Message-IDs came
twice (must be 0). Target (issue 12, point 3): delivery within 2 times the PDF rendering per
worker. The machine is shared: the load average is printed with each figure, and CPU time
beside wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from _common import calibration, setup

HERE = Path(__file__).resolve().parent
BERLIN = ZoneInfo("Europe/Berlin")
DISTINCT = 200  # letters composed for real; the others reuse their words

SINK = r'''
import asyncio, json, signal, sys
from aiosmtpd.controller import Controller

class Sink:
    def __init__(self):
        self.received = 0
        self.ids = set()
        self.twice = 0
    async def handle_DATA(self, server, session, envelope):
        self.received += 1
        head = envelope.content[:4000]
        start = head.find(b"Message-ID: ")
        key = head[start:head.find(b"\n", start)] if start >= 0 else self.received
        if key in self.ids:
            self.twice += 1
        self.ids.add(key)
        return "250 OK"

sink = Sink()
controller = Controller(sink, hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
def stop(*_):
    controller.stop()
    json.dump({"received": sink.received, "twice": sink.twice}, open(sys.argv[2], "w"))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.pause()
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f} on {os.cpu_count()} cores"


def build(n: int) -> None:
    from django.db import transaction
    from django.utils import timezone

    from mahnwerk.cases import links
    from mahnwerk.cases.models import DebtCase
    from mahnwerk.dunning import letters, offers
    from mahnwerk.dunning.models import DunningPolicy, Letter, OutboxMessage
    from mahnwerk.intake.models import Buyer, Order, Product, Vendor

    started = time.perf_counter()
    firsts = ["Jürgen", "Özlem", "Anna", "Björn", "Zoë", "Lukas"]
    lasts = ["Weiß", "Müller", "Schäfer", "Groß", "Nguyễn", "Kowalski"]
    batch = 5000
    with transaction.atomic():
        vendors = Vendor.objects.bulk_create(
            Vendor(vendor_id=f"V{i}", name=f"Akademie Süd {i} GmbH", email=f"v{i}@example.com",
                   enrolled=True) for i in range(20))
        products = Product.objects.bulk_create(
            Product(product_id=f"P{i}", vendor=vendors[i % 20], name=f"Online-Kurs Führung {i}",
                    dunning_enabled=True, checkout_url=f"https://checkout.example/p/P{i}")
            for i in range(100))
        policy = DunningPolicy.objects.prefetch_related("levels").get(vendor__isnull=True)
        samples = []
        for start in range(0, n, batch):
            size = min(batch, n - start)
            buyers = Buyer.objects.bulk_create(
                Buyer(buyer_id=f"B{i}", email=f"kaeufer{i}@example.org",
                      first_name=firsts[i % 6], last_name=lasts[i % 6])
                for i in range(start, start + size))
            orders = Order.objects.bulk_create(
                Order(order_id=f"O{100000 + i}", vendor=products[i % 100].vendor,
                      product=products[i % 100], buyer=buyer, buyer_email=buyer.email,
                      buyer_first_name=buyer.first_name, buyer_last_name=buyer.last_name,
                      street="Königstraße", house_number=str(1 + i % 200),
                      postcode=f"{10000 + i % 89999:05d}", city="Düsseldorf", country="DE",
                      payment_type="installments" if i % 2 else "one_time",
                      amount_total=Decimal("600.00"), currency="EUR",
                      created_at=datetime(2025, 5, 2, 10, 0, tzinfo=BERLIN)
                      + timedelta(minutes=i), first_invoice_number=f"RE-2025-{i:06d}")
                for i, buyer in zip(range(start, start + size), buyers, strict=True))
            cases = DebtCase.objects.bulk_create(
                DebtCase(order=order, vendor_id=order.vendor_id, state="dunning",
                         trigger="stopped_installments",
                         open_amount=Decimal(100 + (i * 37) % 900) + Decimal("0.45"),
                         currency="EUR", first_invoice_number=order.first_invoice_number,
                         opened_at=timezone.now())
                for i, order in zip(range(start, start + size), orders, strict=True))
            made = []
            for i, case in zip(range(start, start + size), cases, strict=True):
                link = offers.offer_link(case=case, token=links.new_code())
                if len(samples) < DISTINCT:
                    case.order = orders[i - start]
                    composed = letters.compose(case=case, level=1, letter_date=date(2025, 8, 1),
                                               policy=policy, offer_link=link,
                                               language="en" if i % 5 == 4 else "de")
                    samples.append((case, composed))
                    made.append(Letter(
                        case=case, level=1, letter_date=composed.letter_date,
                        deadline=composed.deadline, language=composed.language,
                        principal=composed.principal, currency="EUR", offer_link=link,
                        subject=composed.subject, body_html=composed.body_html,
                        body_text=composed.body_text))
                    continue
                model_case, composed = samples[i % DISTINCT]

                def swap(text: str, case=case, model_case=model_case, link=link,
                         composed=composed) -> str:
                    return (text.replace(composed.offer_link, link)
                            .replace(model_case.order_id, case.order_id))

                made.append(Letter(
                    case=case, level=1, letter_date=composed.letter_date,
                    deadline=composed.deadline, language=composed.language,
                    principal=case.open_amount, currency="EUR", offer_link=link,
                    subject=swap(composed.subject), body_html=swap(composed.body_html),
                    body_text=swap(composed.body_text)))
            made = Letter.objects.bulk_create(made)
            OutboxMessage.objects.bulk_create(
                OutboxMessage(letter=letter, case_id=letter.case_id, channel="email",
                              to_address=f"kaeufer{start + k}@example.org", status="queued")
                for k, letter in enumerate(made))
            print(f"  built {start + size:,} of {n:,} letters "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)


def requeue() -> None:
    """Every message back in the queue, every letter not left, their events gone."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE dunning_outboxmessage SET status = 'queued', attempts = 0, "
                       "sent_at = NULL, message_id = '', next_attempt_at = NULL, "
                       "last_error = ''")
        cursor.execute("UPDATE dunning_letter SET dispatched_on = NULL "
                       "WHERE dispatched_on IS NOT NULL")
        cursor.execute("DELETE FROM cases_caseevent WHERE code = 'letter.left'")
        cursor.execute("UPDATE cases_debtcase SET first_dunning_letter = NULL")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE dunning_outboxmessage")


def pdf_floor(sample: int) -> tuple[float, float]:
    """ms per PDF, wall and CPU, of ``sample`` letters (fonts loaded before the clock)."""
    from mahnwerk.cases.selectors import newest_addresses
    from mahnwerk.dunning import letters
    from mahnwerk.dunning.models import Letter

    rows = list(Letter.objects.select_related("case", "case__order", "case__order__product",
                                              "case__vendor").order_by("pk")[:sample])
    addresses = newest_addresses(cases=[letter.case for letter in rows])
    letters.render_pdf(rows[0], address=addresses[rows[0].case_id])
    started, cpu = time.perf_counter(), time.process_time()
    for letter in rows:
        letters.render_pdf(letter, address=addresses[letter.case_id])
    return ((time.perf_counter() - started) * 1000 / len(rows),
            (time.process_time() - cpu) * 1000 / len(rows))


def counts() -> dict[str, int]:
    from mahnwerk.dunning import outbox

    return outbox.status_counts()


def deliver_over_workers(k: int, n: int, env: dict[str, str], redis_url: str) -> dict:
    import redis
    from django.db import connections

    from mahnwerk.dunning.tasks import deliver_outbox

    redis.Redis.from_url(redis_url).flushdb()
    connections.close_all()
    # The workers' warnings and errors go to a file (their banner nowhere).
    log = open(Path(tempfile.gettempdir()) / "delivery_benchmark_workers.log", "a")  # noqa: SIM115
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers = [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mahnwerk", "worker", "--pool", "solo",
         "--hostname", f"bench{number}@%h", "--loglevel", "WARNING", "--without-heartbeat",
         "--without-mingle", "--without-gossip"], env=env, stdout=subprocess.DEVNULL,
        stderr=log) for number in range(k)]
    try:
        time.sleep(6)  # the workers start (Django, Celery, Typst's fonts on the first letter)
        started, load_before = time.perf_counter(), load()
        handed = deliver_outbox()
        print(f"  {k} worker(s): {handed} chunk tasks handed out ({load_before})", flush=True)
        last = 0.0
        while True:
            now = counts()
            done = now["sent"] + now["failed"]
            if done >= n:
                break
            if time.perf_counter() - last > 15:
                last = time.perf_counter()
                print(f"  … {done:,} of {n:,} ({done / (last - started):,.0f}/s; {load()})",
                      flush=True)
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        load_after = load()
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"workers": k, "seconds": seconds, "cpu": cpu, "counts": counts(),
            "load": load_after}


def deliver_here(n: int) -> dict:
    from mahnwerk.dunning import delivery

    started, cpu = time.perf_counter(), time.process_time()

    def progress(report):
        if report.number % 20 == 0:
            print(f"  … pass {report.number}: {report.counts}, still due {report.still_due:,}",
                  flush=True)

    delivery.deliver_all(pass_size=500, progress=progress)
    return {"workers": 1, "seconds": time.perf_counter() - started,
            "cpu": time.process_time() - cpu, "counts": counts(), "load": load()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--letters", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="deliver_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--keep", action="store_true",
                        help="reuse the letters an earlier call built")
    parser.add_argument("--in-process", action="store_true",
                        help="deliver in this process (no Celery), e.g. under py-spy")
    args = parser.parse_args()

    port = free_port()
    os.environ.setdefault("MAHNWERK_CREDITOR_IBAN", "DE89370400440532013000")
    os.environ.update({"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port),
                       "EMAIL_TIMEOUT": "30", "MAHNWERK_OUTBOX_REPLY_TO": "",
                       "MAHNWERK_DELIVER_EAGERLY": "false"})
    if not args.in_process:
        os.environ["CELERY_BROKER_URL"] = args.redis
    print(calibration(), flush=True)
    setup(args.postgres, sqlite=HERE / "out" / "unused.sqlite3", database=args.database,
          fresh=not args.keep)
    from django.conf import settings

    from mahnwerk.dunning.models import OutboxMessage

    if not args.keep:
        build(args.letters)
    n = OutboxMessage.objects.count()
    print(f"{n:,} e-mail letters in the outbox; chunk {settings.MAHNWERK_OUTBOX_CHUNK}",
          flush=True)
    pdf_wall, pdf_cpu = pdf_floor(300)
    print(f"pdf alone: {pdf_wall:.1f} ms wall, {pdf_cpu:.1f} ms CPU per letter ({load()})",
          flush=True)

    report = Path(tempfile.mkdtemp()) / "sink.json"
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port), str(report)],
                            stdout=subprocess.PIPE, text=True)
    assert sink.stdout.readline().strip() == "ready"
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    try:
        for k in ([1] if args.in_process else args.workers):
            requeue()
            result = deliver_here(n) if args.in_process else \
                deliver_over_workers(k, n, env, args.redis)
            seconds, cpu = result["seconds"], result["cpu"]
            per_worker_ms = seconds * 1000 * k / n
            print(f"{'in process' if args.in_process else f'{k} Celery worker(s)'}: "
                  f"{n:,} letters in {seconds:.1f} s = {n / seconds:,.0f} per second; "
                  f"per worker {per_worker_ms:.1f} ms a letter (CPU {cpu * 1000 / n:.1f} ms) "
                  f"vs {pdf_wall:.1f} ms a PDF (CPU {pdf_cpu:.1f}): ratio "
                  f"{per_worker_ms / pdf_wall:.2f} (CPU {cpu * 1000 / n / pdf_cpu:.2f}); "
                  f"{result['counts']['sent']:,} sent, {result['counts']['failed']} failed, "
                  f"{result['counts']['sending']} left sending; {result['load']}", flush=True)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=30)
    received = json.loads(report.read_text())
    print(f"smtp server: {received['received']:,} messages received, "
          f"{received['twice']} Message-IDs twice", flush=True)


if __name__ == "__main__":
    main()
