"""The roles as groups with their permissions (see mahnwerk.web.roles).

Permissions are normally made by the post_migrate signal, after all migrations ran; on a fresh
database they do not exist yet when this migration runs. So it makes them itself, with
``create_permissions`` on the historical models, which is safe to repeat (it only adds what is
missing). The table below is frozen here on purpose: a later change of the roles is a new
migration, so that every database goes through the same steps.
"""

from django.contrib.auth.management import create_permissions
from django.contrib.contenttypes.management import create_contenttypes
from django.db import migrations
from django.db.models import Q

#: Apps whose permissions the roles use; the Administrator gets all of them.
APPS = ("auth", "contenttypes", "intake", "cases", "web")
PLATFORM_MODELS = ("vendor", "product", "buyer", "order", "incident", "payment")
SUPPORT_PERMISSIONS = {
    "cases": ("view_debtcase", "change_debtcase", "view_caseevent", "view_casenote",
              "add_casenote"),
    "intake": tuple(f"view_{model}" for model in PLATFORM_MODELS),
}

ROLES = {
    # Support works the cases: sees them and the platform's data, changes cases (through the
    # services, which the admin actions call) and writes notes.
    "Support-Team": Q(content_type__app_label="cases",
                      codename__in=SUPPORT_PERMISSIONS["cases"])
    | Q(content_type__app_label="intake", codename__in=SUPPORT_PERMISSIONS["intake"]),
    # The relationship manager sees everything of the project and changes nothing.
    "Relationship Manager": Q(content_type__app_label__in=("intake", "cases", "web"),
                              codename__startswith="view_"),
    "Administrator": Q(),
    # A vendor sees cases; the vendor portal limits them to its own (web.VendorAccount).
    "Vendor": Q(content_type__app_label="cases", codename="view_debtcase"),
}


def _make_permissions(apps, using):
    for label in APPS:
        app_config = apps.get_app_config(label)
        # Historical app configs have no models module; both helpers skip such apps.
        app_config.models_module = True
        try:
            create_contenttypes(app_config, verbosity=0, using=using, apps=apps)
            create_permissions(app_config, verbosity=0, using=using, apps=apps)
        finally:
            app_config.models_module = None


def create_roles(apps, schema_editor):
    using = schema_editor.connection.alias
    _make_permissions(apps, using)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.using(using).filter(content_type__app_label__in=APPS)
    for name, condition in ROLES.items():
        group, _created = Group.objects.using(using).get_or_create(name=name)
        group.permissions.add(*permissions.filter(condition))
    support = permissions.filter(ROLES["Support-Team"]).count()
    if support != sum(len(names) for names in SUPPORT_PERMISSIONS.values()):
        raise RuntimeError("a permission of the Support-Team role does not exist")


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("web", "0001_initial"),
        ("intake", "0001_initial"),
        ("cases", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_roles, remove_roles),
    ]
