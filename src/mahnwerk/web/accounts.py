"""Logins of the workspace: the demo users, one per role."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from mahnwerk.intake.models import Vendor
from mahnwerk.web import roles
from mahnwerk.web.models import VendorAccount

DEMO_PASSWORD = "demo"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    vendor_id: str = ""


@transaction.atomic
def ensure_demo_users(*, vendor_id: str | None, password: str = DEMO_PASSWORD
                      ) -> list[DemoUser]:
    """Make the demo logins (or bring them back to their demo state); safe to repeat.

    ``support``, ``manager`` and ``admin`` (a superuser) work in the admin; ``vendor`` is linked
    to the given vendor and is no staff member (it belongs in the vendor portal, not the admin).
    Without a vendor (or an unknown one) no vendor login is made.
    """
    specs = [
        ("support", roles.SUPPORT, {"is_staff": True, "is_superuser": False}),
        ("manager", roles.RELATIONSHIP_MANAGER, {"is_staff": True, "is_superuser": False}),
        ("admin", roles.ADMINISTRATOR, {"is_staff": True, "is_superuser": True}),
    ]
    vendor = Vendor.objects.filter(pk=vendor_id).first() if vendor_id else None
    if vendor is not None:
        specs.append(("vendor", roles.VENDOR, {"is_staff": False, "is_superuser": False}))
    made = []
    user_model = get_user_model()
    for username, role, flags in specs:
        user, created = user_model.objects.get_or_create(
            username=username,
            defaults={"email": f"{username}@mahnwerk.example", "is_active": True, **flags})
        changed = created
        for name, value in {"is_active": True, **flags}.items():
            if getattr(user, name) != value:
                setattr(user, name, value)
                changed = True
        if created or not user.check_password(password):
            user.set_password(password)
            changed = True
        if changed:
            user.save()
        group, _created = Group.objects.get_or_create(name=role)
        user.groups.add(group)
        if role == roles.VENDOR and vendor is not None:
            VendorAccount.objects.update_or_create(user=user, defaults={"vendor": vendor})
        made.append(DemoUser(username=username, password=password, role=role,
                             vendor_id=vendor.vendor_id if role == roles.VENDOR else ""))
    return made
