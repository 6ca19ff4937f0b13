"""Issue 8, the case lifecycle: the new columns (data in 0003_lifecycle_data, old columns go in 0004_lifecycle_cleanup).

Three migrations, because PostgreSQL refuses to alter a table in the transaction that
updated its rows.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ('cases', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='caseevent',
            name='code',
            field=models.CharField(default='text', max_length=48, verbose_name='reason'),
        ),
        migrations.AddField(
            model_name='caseevent',
            name='params',
            field=models.JSONField(blank=True, default=dict, verbose_name='facts'),
        ),
        migrations.AddField(
            model_name='debtcase',
            name='cycle',
            field=models.PositiveSmallIntegerField(default=1, verbose_name='dunning cycle'),
        ),
        migrations.AddField(
            model_name='debtcase',
            name='cycle_started_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='cycle started'),
        ),
    ]
