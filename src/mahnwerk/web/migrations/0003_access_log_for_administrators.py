"""Administrators read the access log (cases.AccessRecord) in the admin; no other role does.

The permission is made here (as in 0002_roles) because post_migrate has not run yet on a fresh
database. Reading only: nobody gets to add, change or delete an access record.
"""

from django.db import migrations

from mahnwerk.web.migrations._permissions import make_permissions


def grant(apps, schema_editor):
    using = schema_editor.connection.alias
    make_permissions(apps, using, ("cases",))
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.using(using).get(content_type__app_label="cases",
                                                     codename="view_accessrecord")
    group, _created = Group.objects.using(using).get_or_create(name="Administrator")
    group.permissions.add(permission)
    # 0002_roles gives the relationship manager every "view_" of the cases app; when it ran
    # after the access log existed, that included this one, which is the administrators' only.
    for other in Group.objects.using(using).exclude(name="Administrator"):
        other.permissions.remove(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.using(schema_editor.connection.alias).filter(
        content_type__app_label="cases", codename__endswith="_accessrecord").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("web", "0002_roles"),
        ("cases", "0006_anonymised_access_log"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
