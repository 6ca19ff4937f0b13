"""A migration no test database has applied: /readyz must name it (tests/test_observe.py)."""

from django.db import migrations


class Migration(migrations.Migration):
    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
