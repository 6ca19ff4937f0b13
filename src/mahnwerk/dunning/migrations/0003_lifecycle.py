"""Issue 8, the case lifecycle: the new columns (data in 0004_lifecycle_data, old columns go in 0005_lifecycle_cleanup).

Three migrations, because PostgreSQL refuses to alter a table in the transaction that
updated its rows.
"""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ('cases', '0002_lifecycle'),
        ('dunning', '0002_standard_policy'),
        ('intake', '0001_initial'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='dunninglevel',
            name='level_is_first_or_second',
        ),
        migrations.RemoveConstraint(
            model_name='letter',
            name='one_letter_per_level',
        ),
        migrations.RemoveConstraint(
            model_name='lettertemplate',
            name='one_template_per_level_language_vendor',
        ),
        migrations.RemoveConstraint(
            model_name='lettertemplate',
            name='one_standard_template',
        ),
        migrations.AddField(
            model_name='dunninglevel',
            name='handover_column',
            field=models.CharField(blank=True, choices=[('first_dunning_letter', 'first dunning letter'), ('second_dunning_letter', 'second dunning letter'), ('', 'none')], default='', help_text="The agency's file has a first and a second dunning letter date; say which one this level's letter fills, if any.", max_length=32, verbose_name='date column in the handover file'),
        ),
        migrations.AddField(
            model_name='dunninglevel',
            name='template',
            field=models.CharField(choices=[('reminder', 'friendly reminder'), ('first', 'first dunning letter'), ('second', 'second dunning letter'), ('final', 'final notice')], default='first', max_length=16, verbose_name='letter'),
        ),
        migrations.AddField(
            model_name='dunningpolicy',
            name='print_within_days',
            field=models.PositiveSmallIntegerField(default=3, help_text='A letter in the print queue longer than this is flagged in the outbox and on its case.', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(60)], verbose_name='working days a paper letter may wait for printing'),
        ),
        migrations.AddField(
            model_name='historicaldunninglevel',
            name='handover_column',
            field=models.CharField(blank=True, choices=[('first_dunning_letter', 'first dunning letter'), ('second_dunning_letter', 'second dunning letter'), ('', 'none')], default='', help_text="The agency's file has a first and a second dunning letter date; say which one this level's letter fills, if any.", max_length=32, verbose_name='date column in the handover file'),
        ),
        migrations.AddField(
            model_name='historicaldunninglevel',
            name='template',
            field=models.CharField(choices=[('reminder', 'friendly reminder'), ('first', 'first dunning letter'), ('second', 'second dunning letter'), ('final', 'final notice')], default='first', max_length=16, verbose_name='letter'),
        ),
        migrations.AddField(
            model_name='historicaldunningpolicy',
            name='print_within_days',
            field=models.PositiveSmallIntegerField(default=3, help_text='A letter in the print queue longer than this is flagged in the outbox and on its case.', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(60)], verbose_name='working days a paper letter may wait for printing'),
        ),
        migrations.AddField(
            model_name='historicallettertemplate',
            name='template',
            field=models.CharField(choices=[('reminder', 'friendly reminder'), ('first', 'first dunning letter'), ('second', 'second dunning letter'), ('final', 'final notice')], default='first', max_length=16, verbose_name='letter'),
        ),
        migrations.AddField(
            model_name='letter',
            name='cycle',
            field=models.PositiveSmallIntegerField(default=1, verbose_name='dunning cycle'),
        ),
        migrations.AddField(
            model_name='letter',
            name='dispatched_on',
            field=models.DateField(blank=True, null=True, verbose_name='left on'),
        ),
        migrations.AddField(
            model_name='letter',
            name='handover_column',
            field=models.CharField(blank=True, choices=[('first_dunning_letter', 'first dunning letter'), ('second_dunning_letter', 'second dunning letter'), ('', 'none')], default='', max_length=32),
        ),
        migrations.AddField(
            model_name='letter',
            name='template',
            field=models.CharField(choices=[('reminder', 'friendly reminder'), ('first', 'first dunning letter'), ('second', 'second dunning letter'), ('final', 'final notice')], default='first', max_length=16, verbose_name='letter'),
        ),
        migrations.AddField(
            model_name='letter',
            name='withdrawn_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='withdrawn'),
        ),
        migrations.AddField(
            model_name='lettertemplate',
            name='template',
            field=models.CharField(choices=[('reminder', 'friendly reminder'), ('first', 'first dunning letter'), ('second', 'second dunning letter'), ('final', 'final notice')], default='first', max_length=16, verbose_name='letter'),
        ),
        migrations.AddField(
            model_name='rundecision',
            name='code',
            field=models.CharField(default='text', max_length=48, verbose_name='reason'),
        ),
        migrations.AddField(
            model_name='rundecision',
            name='outcome_code',
            field=models.CharField(blank=True, max_length=48, verbose_name='outcome'),
        ),
        migrations.AddField(
            model_name='rundecision',
            name='outcome_params',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='rundecision',
            name='params',
            field=models.JSONField(blank=True, default=dict, verbose_name='facts'),
        ),
        migrations.AlterField(
            model_name='dunninglevel',
            name='days_after_previous',
            field=models.PositiveSmallIntegerField(help_text='The first level: days after the incident. Every other level: days after the previous letter left.', verbose_name='days after the previous step'),
        ),
        migrations.AlterField(
            model_name='dunninglevel',
            name='number',
            field=models.PositiveSmallIntegerField(help_text='The order of the levels: 1 is sent first.', validators=[django.core.validators.MinValueValidator(1)], verbose_name='level'),
        ),
        migrations.AlterField(
            model_name='dunningrun',
            name='state',
            field=models.CharField(choices=[('deciding', 'deciding'), ('decided', 'decided'), ('executing', 'executing'), ('done', 'done'), ('discarded', 'discarded')], default='decided', max_length=16, verbose_name='state'),
        ),
        migrations.AlterField(
            model_name='historicaldunninglevel',
            name='days_after_previous',
            field=models.PositiveSmallIntegerField(help_text='The first level: days after the incident. Every other level: days after the previous letter left.', verbose_name='days after the previous step'),
        ),
        migrations.AlterField(
            model_name='historicaldunninglevel',
            name='number',
            field=models.PositiveSmallIntegerField(help_text='The order of the levels: 1 is sent first.', validators=[django.core.validators.MinValueValidator(1)], verbose_name='level'),
        ),
    ]
