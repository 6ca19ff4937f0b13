"""Who may record a vendor's decision, and who keeps the dunning policies (issue 10, point 3).

* ``collection.record_vendor_decision``: the Support-Team and the Administrator (who changed
  cases before) and now the Relationship Manager, who hears the vendor's answer in its chat group
  and records it ("per WhatsApp-Gruppe"); it is the relationship manager's only change.
* The Administrator keeps the dunning policies, their levels and the letter templates in the
  admin: every permission of those three models (0002_roles of the web app gave the role the
  apps it knew then, which were not yet these).

The permissions are made here, as web 0002_roles does, because post_migrate has not run yet on
a fresh database; the groups are made if they do not exist yet (web 0002_roles adds to them).
"""

from django.contrib.auth.management import create_permissions
from django.contrib.contenttypes.management import create_contenttypes
from django.db import migrations

DECIDERS = ("Support-Team", "Relationship Manager", "Administrator")
POLICY_MODELS = ("dunningpolicy", "dunninglevel", "lettertemplate")


def _make_permissions(apps, using, labels):
    for label in labels:
        app_config = apps.get_app_config(label)
        # Historical app configs have no models module; both helpers skip such apps.
        app_config.models_module = True
        try:
            create_contenttypes(app_config, verbosity=0, using=using, apps=apps)
            create_permissions(app_config, verbosity=0, using=using, apps=apps)
        finally:
            app_config.models_module = None


def grant(apps, schema_editor):
    using = schema_editor.connection.alias
    _make_permissions(apps, using, ("collection", "dunning"))
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    decide = Permission.objects.using(using).get(content_type__app_label="collection",
                                                 codename="record_vendor_decision")
    for name in DECIDERS:
        group, _created = Group.objects.using(using).get_or_create(name=name)
        group.permissions.add(decide)
    administrator = Group.objects.using(using).get(name="Administrator")
    administrator.permissions.add(*Permission.objects.using(using).filter(
        content_type__app_label="dunning", content_type__model__in=POLICY_MODELS))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.using(schema_editor.connection.alias).filter(
        content_type__app_label="collection", codename="record_vendor_decision").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("collection", "0003_anonymised"),
        ("dunning", "0007_anonymised"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="approvalrequest",
            options={
                "ordering": ["-sent_at"],
                "permissions": [("record_vendor_decision",
                                 "Can record a vendor's decision (approve or cancel) on a case")],
                "verbose_name": "approval request",
                "verbose_name_plural": "approval requests",
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
