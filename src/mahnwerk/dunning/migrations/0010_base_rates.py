"""The base rates of § 247 BGB from 1 January 2020, one row per half-year.

Source: the Deutsche Bundesbank's announcements of the base rate ("Bekanntgabe des
Basiszinssatzes", published in the Bundesanzeiger; https://www.bundesbank.de, search
"Basiszinssatz"). Checked against the Bundesbank's press releases and their reprints:

    2016-07-01 .. 2022-12-31  -0.88 %  (unchanged since 1 July 2016; checked)
    2023-01-01  1.62 %  (checked)         2023-07-01  3.12 %  (checked)
    2024-01-01  3.62 %  (checked)         2024-07-01  3.37 %  (checked)
    2025-01-01  2.27 %  (checked)         2025-07-01  1.27 %  (checked)
    2026-01-01  1.27 %  (announced 24 December 2025: unchanged, the ECB's main refinancing
                         rate stayed at 2.15 %; checked against a reprint of the announcement)

1 July 2026 and later are not entered: not verified when this was written. The administrator
enters each new half-year in the admin; the workspace warns while the current one is missing.
"""

from datetime import date
from decimal import Decimal

from django.db import migrations

SOURCE = "Deutsche Bundesbank, Bekanntgabe des Basiszinssatzes (Bundesanzeiger)"
RATES = [
    *[(date(year, month, 1), Decimal("-0.88")) for year in (2020, 2021, 2022)
      for month in (1, 7)],
    (date(2023, 1, 1), Decimal("1.62")), (date(2023, 7, 1), Decimal("3.12")),
    (date(2024, 1, 1), Decimal("3.62")), (date(2024, 7, 1), Decimal("3.37")),
    (date(2025, 1, 1), Decimal("2.27")), (date(2025, 7, 1), Decimal("1.27")),
    (date(2026, 1, 1), Decimal("1.27")),
]


def seed(apps, schema_editor):
    BaseRate = apps.get_model("dunning", "BaseRate")
    for valid_from, rate in RATES:
        BaseRate.objects.get_or_create(valid_from=valid_from,
                                       defaults={"rate": rate, "source": SOURCE})


def unseed(apps, schema_editor):
    BaseRate = apps.get_model("dunning", "BaseRate")
    BaseRate.objects.filter(valid_from__in=[day for day, _rate in RATES]).delete()


class Migration(migrations.Migration):
    dependencies = [("dunning", "0009_fees_interest_base_rates")]
    operations = [migrations.RunPython(seed, unseed)]
