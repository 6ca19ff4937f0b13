"""Logins of the workspace: the demo users, one per role; vendors' portal logins, made and
invited from the vendor's page (an e-mail with a set-password link: Django's password reset
token, so the link works once and expires)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

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


# -- Vendors' portal logins, created and invited from the vendor's page ------------------------


class VendorLoginError(Exception):
    """A login that cannot be made; the message says why, for the administrator."""


def vendor_logins(*, vendor_id: str) -> list[AbstractBaseUser]:
    """The portal logins of a vendor, with whether each has set its password yet."""
    return list(get_user_model().objects.filter(vendor_account__vendor_id=vendor_id)
                .order_by("username"))


def invitation_link(*, user: AbstractBaseUser) -> str:
    """The set-password link of Django's password reset (a token that ends when the password
    is set, or after ``PASSWORD_RESET_TIMEOUT``)."""
    path = reverse("web:password-set", kwargs={
        "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user)})
    return settings.MAHNWERK_SITE_URL.rstrip("/") + path


def send_invitation(*, user: AbstractBaseUser, vendor: Vendor, actor: str) -> None:
    """The e-mail with the set-password link to a vendor's contact (in the team's language,
    the portal's first), after the surrounding transaction commits."""
    with translation.override(settings.LANGUAGE_CODE):
        days = max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)
        subject = _("Your login to the vendor portal of %(creditor)s") % {
            "creditor": settings.MAHNWERK_CREDITOR["name"]}
        body = _(
            "Hello,\n\n%(actor)s of %(creditor)s has made you a login to the vendor portal for "
            "%(vendor)s. There you see your buyers' open debts and decide which of them go to "
            "the collection agency.\n\nYour user name: %(username)s\n\nChoose your password "
            "here (the link works once, for %(days)s):\n%(link)s\n\nAfterwards you log in at "
            "%(login)s\n") % {
            "actor": actor, "creditor": settings.MAHNWERK_CREDITOR["name"],
            "vendor": vendor.name, "username": user.get_username(),
            "days": ngettext("%(count)d day", "%(count)d days", days) % {"count": days},
            "link": invitation_link(user=user),
            "login": settings.MAHNWERK_SITE_URL.rstrip("/") + reverse("web:login")}
    recipient = user.email
    transaction.on_commit(lambda: send_mail(subject, body, None, [recipient],
                                            fail_silently=False))


@transaction.atomic
def create_vendor_login(*, vendor: Vendor, email: str, actor: str, first_name: str = "",
                        last_name: str = "") -> AbstractBaseUser:
    """A portal login for a vendor's contact: user name = e-mail, no password until the
    contact sets one through the invitation, in the group Vendor, linked to the vendor (it sees
    that vendor's cases only, and never the workspace or the admin)."""
    email = get_user_model().objects.normalize_email(email.strip()).lower()
    users = get_user_model().objects
    taken = users.filter(Q(username__iexact=email) | Q(email__iexact=email)).first()
    if taken is not None:
        account = VendorAccount.objects.filter(user=taken).select_related("vendor").first()
        if account is not None and account.vendor_id == vendor.pk:
            raise VendorLoginError(_("%(email)s has a login for this vendor already; send the "
                                     "invitation again from the list below.") % {"email": email})
        raise VendorLoginError(_("%(email)s is the login of another user already; a person "
                                 "has one login, for one vendor.") % {"email": email})
    # No password (an unusable one) until the contact sets it through the invitation.
    user = users.create_user(username=email, email=email, password=None,
                             first_name=first_name.strip(), last_name=last_name.strip())
    group, _created = Group.objects.get_or_create(name=roles.VENDOR)
    user.groups.add(group)
    VendorAccount.objects.create(user=user, vendor=vendor)
    send_invitation(user=user, vendor=vendor, actor=actor)
    return user


def invite_again(*, vendor: Vendor, user_id: int, actor: str) -> AbstractBaseUser:
    """Send a vendor's login its set-password link again (a lost or expired invitation)."""
    user = get_user_model().objects.filter(pk=user_id, vendor_account__vendor=vendor).first()
    if user is None:
        raise VendorLoginError(_("This vendor has no such login."))
    if not user.is_active:
        raise VendorLoginError(_("The login %(username)s is switched off; an administrator "
                                 "switches it on in the admin first.")
                               % {"username": user.get_username()})
    if not user.email:
        raise VendorLoginError(_("The login %(username)s has no e-mail address.")
                               % {"username": user.get_username()})
    send_invitation(user=user, vendor=vendor, actor=actor)
    return user
