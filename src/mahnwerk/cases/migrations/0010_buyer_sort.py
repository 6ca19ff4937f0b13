"""The buyer's name kept on each case, so that *Fälle* sorts by buyer from an index of the cases
instead of joining a million orders (issue 10, docs/benchmarks.md); filled from the orders."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill(apps, schema_editor):
    DebtCase = apps.get_model("cases", "DebtCase")
    Order = apps.get_model("intake", "Order")
    order = Order.objects.filter(pk=OuterRef("order_id"))
    DebtCase.objects.update(
        buyer_last_name=Subquery(order.values("buyer_last_name")[:1]),
        buyer_first_name=Subquery(order.values("buyer_first_name")[:1]))


class Migration(migrations.Migration):

    dependencies = [
        ("cases", "0009_search_text"),
        ("intake", "0003_anonymised"),
    ]

    operations = [
        migrations.AddField(
            model_name="debtcase",
            name="buyer_first_name",
            field=models.CharField(blank=True, db_default="", default="", editable=False,
                                   max_length=150, verbose_name="first name"),
        ),
        migrations.AddField(
            model_name="debtcase",
            name="buyer_last_name",
            field=models.CharField(blank=True, db_default="", default="", editable=False,
                                   max_length=150, verbose_name="last name"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="debtcase",
            index=models.Index(fields=["buyer_last_name", "buyer_first_name", "order_id"],
                               name="case_buyer_sort"),
        ),
    ]
