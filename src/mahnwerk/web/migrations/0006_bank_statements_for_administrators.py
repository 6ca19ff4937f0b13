"""Administrators read the bank statements and their lines (banking.BankStatement,
banking.StatementLine) in the admin; no other role does (support works the lines on the
Bankauszüge page). Made here as in 0003: post_migrate has not run yet on a fresh database.
Reading only: nobody gets to add, change or delete them in the admin.
"""

from django.db import migrations

from mahnwerk.web.migrations._permissions import make_permissions

CODENAMES = ("view_bankstatement", "view_statementline")


def grant(apps, schema_editor):
    using = schema_editor.connection.alias
    make_permissions(apps, using, ("banking",))
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.using(using).filter(content_type__app_label="banking",
                                                         codename__in=CODENAMES)
    if permissions.count() != len(CODENAMES):
        raise RuntimeError("a view permission of the banking app does not exist")
    group, _created = Group.objects.using(using).get_or_create(name="Administrator")
    group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    using = schema_editor.connection.alias
    permissions = Permission.objects.using(using).filter(content_type__app_label="banking",
                                                         codename__in=CODENAMES)
    for group in Group.objects.using(using).filter(name="Administrator"):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):

    dependencies = [
        ("web", "0005_saved_filter_lists"),
        ("banking", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
