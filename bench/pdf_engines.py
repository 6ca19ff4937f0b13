"""Benchmark: Typst against WeasyPrint for the same dunning letters (issue 3: "choose by
measuring").

    .venv/bin/pip install weasyprint       # only for this comparison; not a dependency
    .venv/bin/python bench/letters_benchmark.py -n 200   # builds bench/out/letters.sqlite3
    .venv/bin/python bench/pdf_engines.py [-n 100]

Renders the first ``n`` stored letters of the letters benchmark's database twice, in one
process: with ``letters.render_pdf`` (Typst, the DIN 5008 layout Mahnwerk ships) and with
WeasyPrint from the letter's own HTML body on an A4 page with DIN 5008 margins and the address
window (the nearest HTML equivalent). Prints letters per second for each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DB = HERE / "out" / "letters.sqlite3"

PAGE_CSS = """
@page { size: A4; margin: 45mm 20mm 25mm 25mm; }
body { font-family: sans-serif; font-size: 11pt; line-height: 1.35; }
.window { position: absolute; top: -18mm; left: 0; width: 85mm; height: 45mm; font-size: 10pt; }
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=100)
    args = parser.parse_args()
    if not DB.exists():
        sys.exit(f"{DB} is missing: run bench/letters_benchmark.py first.")
    try:
        import weasyprint
    except ImportError:
        sys.exit("WeasyPrint is not installed: .venv/bin/pip install weasyprint")
    sys.path.insert(0, str(HERE.parent / "src"))
    os.environ["DATABASE_URL"] = f"sqlite:///{DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mahnwerk.settings")
    import django

    django.setup()
    from mahnwerk.dunning import letters
    from mahnwerk.dunning.models import Letter

    sample = list(Letter.objects.select_related("case", "case__order", "case__order__product",
                                                "case__vendor").order_by("pk")[:args.n])
    letters.render_pdf(sample[0])  # fonts and layout loaded once, as in a worker
    start = time.perf_counter()
    typst_bytes = sum(len(letters.render_pdf(letter)) for letter in sample)
    typst = time.perf_counter() - start

    css = weasyprint.CSS(string=PAGE_CSS)

    def weasy(letter: Letter) -> bytes:
        order = letter.case.order
        window = (f"<div class='window'>{order.buyer_first_name} {order.buyer_last_name}<br>"
                  f"{order.street} {order.house_number}<br>{order.postcode} {order.city}</div>")
        return weasyprint.HTML(string=f"<html><body>{window}{letter.body_html}</body></html>"
                               ).write_pdf(stylesheets=[css])

    weasy(sample[0])
    start = time.perf_counter()
    weasy_bytes = sum(len(weasy(letter)) for letter in sample)
    weasy_seconds = time.perf_counter() - start
    n = len(sample)
    print(f"typst:      {n} letters in {typst:.2f} s: {n / typst:,.0f} letters/s, "
          f"{typst / n * 1000:.1f} ms a letter, {typst_bytes // n // 1024} KiB")
    print(f"weasyprint: {n} letters in {weasy_seconds:.2f} s: {n / weasy_seconds:,.0f} "
          f"letters/s, {weasy_seconds / n * 1000:.1f} ms a letter, "
          f"{weasy_bytes // n // 1024} KiB (WeasyPrint {weasyprint.__version__})")
    print(f"typst is {weasy_seconds / typst:.1f}x faster")


if __name__ == "__main__":
    main()
