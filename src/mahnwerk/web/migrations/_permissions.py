"""Making permissions inside a migration (post_migrate has not run yet on a fresh database)."""

from django.contrib.auth.management import create_permissions
from django.contrib.contenttypes.management import create_contenttypes


def make_permissions(apps, using, labels):
    for label in labels:
        app_config = apps.get_app_config(label)
        # Historical app configs have no models module; both helpers skip such apps.
        app_config.models_module = True
        try:
            create_contenttypes(app_config, verbosity=0, using=using, apps=apps)
            create_permissions(app_config, verbosity=0, using=using, apps=apps)
        finally:
            app_config.models_module = None
