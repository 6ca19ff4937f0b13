"""Issue 8: the columns the data migration 0004_lifecycle_data moved into codes and templates go."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("dunning", "0004_lifecycle_data")]

    operations = [
        migrations.AddConstraint(
            model_name='dunninglevel',
            constraint=models.CheckConstraint(condition=models.Q(('number__gte', 1)), name='level_from_one'),
        ),
        migrations.AddConstraint(
            model_name='letter',
            constraint=models.UniqueConstraint(condition=models.Q(('withdrawn_at__isnull', True)), fields=('case', 'cycle', 'level'), name='one_letter_per_cycle_and_level'),
        ),
        migrations.AddConstraint(
            model_name='lettertemplate',
            constraint=models.UniqueConstraint(fields=('template', 'language', 'vendor'), name='one_template_per_kind_language_vendor'),
        ),
        migrations.AddConstraint(
            model_name='lettertemplate',
            constraint=models.UniqueConstraint(condition=models.Q(('vendor__isnull', True)), fields=('template', 'language'), name='one_standard_template'),
        ),
        migrations.RemoveField(
            model_name='historicallettertemplate',
            name='level',
        ),
        migrations.RemoveField(
            model_name='lettertemplate',
            name='level',
        ),
        migrations.RemoveField(
            model_name='rundecision',
            name='outcome',
        ),
        migrations.RemoveField(
            model_name='rundecision',
            name='reason',
        ),
    ]
