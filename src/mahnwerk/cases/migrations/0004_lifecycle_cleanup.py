"""Issue 8: the columns the data migration 0003_lifecycle_data moved into codes and templates go."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("cases", "0003_lifecycle_data")]

    operations = [
        migrations.RemoveField(
            model_name='caseevent',
            name='reason',
        ),
    ]
