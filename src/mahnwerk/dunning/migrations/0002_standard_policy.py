"""The standard policy of the monthly process and the standard letters (editable afterwards).

First letter in the first run at least 7 days after the incident, the second at least 14 days
after the first, escalation at least 14 days after the second; no fees, no interest.
"""

from decimal import Decimal
from pathlib import Path

from django.db import migrations

LETTERS = Path(__file__).resolve().parent.parent / "templates" / "dunning" / "letters"


def create(apps, schema_editor):
    Policy = apps.get_model("dunning", "DunningPolicy")
    Level = apps.get_model("dunning", "DunningLevel")
    Template = apps.get_model("dunning", "LetterTemplate")
    if not Policy.objects.filter(vendor__isnull=True).exists():
        policy = Policy.objects.create(name="Standard", run_day=1, escalate_after_days=14,
                                       minimum_amount=Decimal("5.00"), payment_days=14)
        Level.objects.create(policy=policy, number=1, name="1. Mahnung", days_after_previous=7,
                             fee=Decimal("0.00"))
        Level.objects.create(policy=policy, number=2, name="2. Mahnung",
                             days_after_previous=14, fee=Decimal("0.00"))
    for level in (1, 2):
        for language in ("de", "en"):
            base = LETTERS / f"{('first', 'second')[level - 1]}_{language}"
            Template.objects.get_or_create(
                level=level, language=language, vendor=None,
                defaults={
                    "subject": Path(f"{base}.subject.txt").read_text(encoding="utf-8").strip(),
                    "body_html": Path(f"{base}.html").read_text(encoding="utf-8"),
                    "body_text": Path(f"{base}.txt").read_text(encoding="utf-8")})


class Migration(migrations.Migration):
    dependencies = [("dunning", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
