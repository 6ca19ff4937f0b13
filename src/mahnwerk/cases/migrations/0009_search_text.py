"""The cases' search column (``cases.search``), filled from their orders; on PostgreSQL a
trigram index answers "contains" searches on it. Paid and cancelled cases are grey: nothing
more is pursued on them (issue 10)."""

from django.db import migrations, models

from mahnwerk.cases.search import ORDER_FIELDS, search_text

CLOSED = ("paid", "canceled", "reopened")


def fill(apps, schema_editor):
    DebtCase = apps.get_model("cases", "DebtCase")
    Order = apps.get_model("intake", "Order")
    pks = list(DebtCase.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), 900):
        cases = list(DebtCase.objects.filter(pk__in=pks[start:start + 900])
                     .only("pk", "order_id", "first_invoice_number"))
        orders = {row["order_id"]: row for row in Order.objects.filter(
            pk__in=[c.order_id for c in cases]).values(*ORDER_FIELDS)}
        for case in cases:
            row = orders[case.order_id]
            case.search_text = search_text(**{n: row[n] or "" for n in ORDER_FIELDS},
                                           case_invoice_number=case.first_invoice_number)
        DebtCase.objects.bulk_update(cases, ["search_text"])


def closed_are_grey(apps, schema_editor):
    apps.get_model("cases", "DebtCase").objects.filter(state__in=CLOSED, pursue=True).update(
        pursue=False)


def trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute("CREATE INDEX IF NOT EXISTS case_search_trgm ON cases_debtcase "
                          "USING gin (search_text gin_trgm_ops)")


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS case_search_trgm")


class Migration(migrations.Migration):

    dependencies = [
        ("cases", "0008_merge_business_dates_overview_indexes"),
        ("intake", "0003_anonymised"),
    ]

    operations = [
        migrations.AddField(
            model_name="debtcase",
            name="search_text",
            field=models.TextField(blank=True, db_default="", default="", editable=False,
                                   verbose_name="search text"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.RunPython(closed_are_grey, migrations.RunPython.noop),
        migrations.RunPython(trigram_index, drop_trigram_index),
        migrations.AddIndex(
            model_name="debtcase",
            index=models.Index(fields=["currency", "state", "open_amount"], name="case_totals"),
        ),
    ]
