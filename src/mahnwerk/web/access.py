"""Who may open which page: the workspace for the platform's people, the portal for vendors.

* The **workspace** (cases, runs, outbox) is for staff and the members of the groups
  Support-Team, Relationship Manager and Administrator; a vendor's login never sees it, even if
  someone made it staff by mistake.
* **Working** in the workspace (block, note, run, outbox actions) needs the permission to change
  cases (``cases.change_debtcase``; notes: ``cases.add_casenote``), which the Support-Team and
  the Administrator have (migration web 0002_roles); the Relationship Manager reads only.
* **Recording a vendor's decision** on a case waiting for approval (approve or cancel, with a
  reason such as "per WhatsApp-Gruppe") needs ``collection.record_vendor_decision``: support,
  the administrator and the relationship manager, who hears the vendor's answer in its chat
  group (migration collection 0004); for the relationship manager it is the only change.
* **Vendor logins** (a portal login for a vendor's contact, its invitation) need
  ``web.add_vendoraccount``: the administrator.
* The **vendor portal** is for logins linked to a vendor (``VendorAccount``); it shows that
  vendor's data only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from mahnwerk.web import roles
from mahnwerk.web.models import VendorAccount

WORKSPACE_GROUPS = (roles.SUPPORT, roles.RELATIONSHIP_MANAGER, roles.ADMINISTRATOR)
CHANGE_CASES = "cases.change_debtcase"
ADD_NOTES = "cases.add_casenote"
RECORD_DECISION = "collection.record_vendor_decision"
ADD_VENDOR_LOGINS = "web.add_vendoraccount"

View = Callable[..., HttpResponse]


def vendor_account(user: Any) -> VendorAccount | None:
    """The vendor login of a user, or None (cached on the user object for the request)."""
    if not getattr(user, "is_authenticated", False):
        return None
    if not hasattr(user, "_vendor_account_checked"):
        try:
            account = user.vendor_account
        except ObjectDoesNotExist:
            account = None
        user._vendor_account_checked = account
    return user._vendor_account_checked


def is_workspace_user(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if vendor_account(user) is not None:
        return False
    if user.is_staff or user.is_superuser:
        return True
    return user.groups.filter(name__in=WORKSPACE_GROUPS).exists()


def can_work(user: Any) -> bool:
    """May change cases, start runs and act on the outbox (not only read)."""
    return is_workspace_user(user) and user.has_perm(CHANGE_CASES)


def can_note(user: Any) -> bool:
    return is_workspace_user(user) and user.has_perm(ADD_NOTES)


def can_record_decision(user: Any) -> bool:
    """May record a vendor's approve or cancel that came by mail or chat."""
    return is_workspace_user(user) and user.has_perm(RECORD_DECISION)


def can_invite_vendors(user: Any) -> bool:
    """May create vendors' portal logins and send their invitations."""
    return is_workspace_user(user) and user.has_perm(ADD_VENDOR_LOGINS)


def workspace_view(view: View | None = None, *, permission: Callable[[Any], bool] | None = None
                   ) -> Any:
    """Log in first; a vendor login goes to its portal; anyone else without a workspace role,
    or without ``permission`` for this view, gets 403."""

    def decorate(func: View) -> View:
        @wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if vendor_account(user) is not None:
                return redirect("web:portal")
            if not is_workspace_user(user):
                raise PermissionDenied
            if permission is not None and not permission(user):
                raise PermissionDenied
            return func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def portal_view(func: View) -> View:
    """Log in first; only a vendor login may enter; the view gets its ``account``."""

    @wraps(func)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        account = vendor_account(request.user)
        if account is None or not request.user.is_active:
            raise PermissionDenied
        return func(request, *args, account=account, **kwargs)

    return wrapper


def actor(request: HttpRequest) -> str:
    """How a person appears on the timeline: their user name."""
    return request.user.get_username()
