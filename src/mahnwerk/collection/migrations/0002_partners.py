"""The partners of the process (process.md section 1) and the default routing: foreign buyers
to the foreign-collection partner, every other case to Diagonal."""

from django.db import migrations


def create(apps, schema_editor):
    Partner = apps.get_model("collection", "CollectionPartner")
    Rule = apps.get_model("collection", "RoutingRule")
    diagonal, _ = Partner.objects.get_or_create(
        name="Diagonal", defaults={"kind": "domestic", "contact_email": "uebergabe@diagonal.example"})
    foreign, _ = Partner.objects.get_or_create(
        name="GG Influencing", defaults={"kind": "foreign",
                                         "contact_email": "auslandsinkasso@gg.example"})
    Partner.objects.get_or_create(name="Factoring", defaults={"kind": "factoring",
                                                             "active": False})
    if not Rule.objects.exists():
        Rule.objects.create(priority=10, partner=foreign, buyer_country="!DE")
        Rule.objects.create(priority=100, partner=diagonal)


class Migration(migrations.Migration):
    dependencies = [("collection", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
