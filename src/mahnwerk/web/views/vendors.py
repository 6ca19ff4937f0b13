"""The vendors in the workspace: a list, one vendor's page with its settings, its cases by
state and its portal logins, where an administrator makes a login for a vendor's contact and
sends the invitation (``web.accounts``); and the page behind the invitation's link, where the
contact chooses a password (Django's password reset confirmation, in the portal's look).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mahnwerk.cases import selectors as case_selectors
from mahnwerk.intake.models import Vendor
from mahnwerk.web import access, accounts, reads
from mahnwerk.web.forms import VendorLoginForm
from mahnwerk.web.views.common import page_of, render_workspace


def _vendor_or_404(vendor_id: str) -> Vendor:
    vendor = reads.vendors().filter(pk=vendor_id).first()
    if vendor is None:
        raise Http404(_("There is no vendor %(vendor)s.") % {"vendor": vendor_id})
    return vendor


@access.workspace_view
def vendor_list(request: HttpRequest) -> HttpResponse:
    return render_workspace(request, "web/vendor_list.html", {
        "page": page_of(request, reads.vendor_overview()),
    }, section="vendors")


@access.workspace_view
def vendor_detail(request: HttpRequest, vendor_id: str) -> HttpResponse:
    return _detail(request, _vendor_or_404(vendor_id), VendorLoginForm())


def _detail(request: HttpRequest, vendor: Vendor, form: VendorLoginForm, *,
            status: int = 200) -> HttpResponse:
    return render_workspace(request, "web/vendor_detail.html", {
        "vendor": vendor,
        "states": case_selectors.count_by_state(vendor_id=vendor.pk),
        "logins": accounts.vendor_logins(vendor_id=vendor.pk),
        "can_invite": access.can_invite_vendors(request.user),
        "login_form": form,
    }, section="vendors", status=status)


@require_POST
@access.workspace_view(permission=access.can_invite_vendors)
def vendor_login_create(request: HttpRequest, vendor_id: str) -> HttpResponse:
    vendor = _vendor_or_404(vendor_id)
    form = VendorLoginForm(request.POST)
    if not form.is_valid():
        return _detail(request, vendor, form, status=400)
    try:
        user = accounts.create_vendor_login(
            vendor=vendor, email=form.cleaned_data["email"], actor=access.actor(request),
            first_name=form.cleaned_data["first_name"], last_name=form.cleaned_data["last_name"])
    except accounts.VendorLoginError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Portal login %(username)s made for %(vendor)s; the "
                                    "invitation with the link to choose a password went to "
                                    "%(email)s.") % {"username": user.get_username(),
                                                     "vendor": vendor.name, "email": user.email})
    return redirect("web:vendor", vendor_id=vendor.pk)


@require_POST
@access.workspace_view(permission=access.can_invite_vendors)
def vendor_login_invite(request: HttpRequest, vendor_id: str, user_id: int) -> HttpResponse:
    vendor = _vendor_or_404(vendor_id)
    try:
        user = accounts.invite_again(vendor=vendor, user_id=user_id, actor=access.actor(request))
    except accounts.VendorLoginError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The invitation went to %(email)s again.")
                         % {"email": user.email})
    return redirect("web:vendor", vendor_id=vendor.pk)


class PasswordSetView(auth_views.PasswordResetConfirmView):
    """The invitation's link: the vendor's contact chooses a password (the link works once)."""

    template_name = "web/password_set.html"
    success_url = reverse_lazy("web:password-set-done")


class PasswordSetDoneView(auth_views.PasswordResetCompleteView):
    template_name = "web/password_set_done.html"
