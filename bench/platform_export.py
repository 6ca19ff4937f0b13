"""Write a synthetic platform export (the five feeds as CSV) for benchmarks.

    python bench/platform_export.py OUTDIR [--orders 1000000] [--incidents 100000]
                                           [--payments 50000] [--seed 1]

Plain ``random`` rather than Faker: a million rows must be written in seconds, and the names
do not matter to the importer's speed.
"""

import argparse
import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

FEEDS = {
    "vendors": ["vendor_id", "name", "email", "enrolled", "collection_mode", "dunning_by",
                "relationship_manager", "escalation_channel"],
    "products": ["product_id", "vendor_id", "name", "dunning_enabled", "checkout_url"],
    "orders": ["order_id", "vendor_id", "product_id", "buyer_id", "buyer_email",
               "buyer_first_name", "buyer_last_name", "street", "house_number", "postcode",
               "city", "country", "payment_type", "amount_total", "currency",
               "installments_total", "installments_paid", "created_at", "sales_agent",
               "first_invoice_number"],
    "incidents": ["incident_id", "order_id", "kind", "occurred_at", "open_amount", "currency"],
    "payments": ["payment_id", "order_id", "amount", "currency", "paid_at", "channel"],
}
FIRST = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Lena"]
LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"]
CITIES = [("Köln", "51147"), ("Berlin", "10115"), ("München", "80331"), ("Hamburg", "20095")]


def write(outdir: Path, orders: int, incidents: int, payments: int, seed: int) -> dict:
    rng = random.Random(seed)
    outdir.mkdir(parents=True, exist_ok=True)
    vendors = max(10, orders // 1000)
    products = vendors * 5
    buyers = max(10, orders // 3)
    start = datetime(2025, 1, 1)
    counts = {}

    def writer(name):
        handle = (outdir / f"{name}.csv").open("w", encoding="utf-8", newline="")
        w = csv.writer(handle)
        w.writerow(FEEDS[name])
        return handle, w

    handle, w = writer("vendors")
    for v in range(vendors):
        w.writerow([f"V{v}", f"Vendor {v} GmbH", f"vendor{v}@example.com", "True",
                    "approval" if v % 3 else "direct", "in_house" if v % 4 else "agency",
                    "dom", f"WhatsApp: Vendor {v}"])
    handle.close()
    handle, w = writer("products")
    for p in range(products):
        w.writerow([f"P{p}", f"V{p // 5}", f"Kurs {p}", "True" if p % 7 else "False",
                    f"https://checkout.example/p/P{p}"])
    handle.close()
    handle, w = writer("orders")
    order_info = []
    for o in range(orders):
        p = rng.randrange(products)
        b = rng.randrange(buyers)
        city, postcode = CITIES[b % len(CITIES)]
        amount = rng.choice(("99.00", "297.00", "600.00", "1497.00"))
        kind = rng.choice(("one_time", "installments", "subscription"))
        created = start + timedelta(minutes=rng.randrange(600_000))
        w.writerow([f"O{o}", f"V{p // 5}", f"P{p}", f"B{b}", f"buyer{b}@example.org",
                    FIRST[b % 10], LAST[b % 8], "Hauptstraße", str(b % 200 + 1), postcode,
                    city, "DE", kind, amount, "EUR", "6" if kind == "installments" else "",
                    "2" if kind == "installments" else "", created.isoformat() + "+01:00",
                    "Tina" if o % 50 == 0 else "", f"RE-{o}"])
        if o < incidents * 3:
            order_info.append((o, amount, created))
    handle.close()
    chosen = rng.sample(order_info, min(incidents, len(order_info)))
    handle, w = writer("incidents")
    for i, (o, amount, created) in enumerate(chosen):
        w.writerow([f"I{i}", f"O{o}", rng.choice(("chargeback", "stopped_installments",
                                                  "one_time_chargeback")),
                    (created + timedelta(days=30)).isoformat() + "+01:00", amount, "EUR"])
    handle.close()
    handle, w = writer("payments")
    for i, (o, _amount, created) in enumerate(chosen[:payments]):
        w.writerow([f"PAY{i}", f"O{o}", "50.00", "EUR",
                    (created + timedelta(days=45)).isoformat() + "+01:00", "offer_link"])
    handle.close()
    counts.update(vendors=vendors, products=products, orders=orders,
                  incidents=len(chosen), payments=min(payments, len(chosen)))
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--payments", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(write(args.outdir, args.orders, args.incidents, args.payments, args.seed))
