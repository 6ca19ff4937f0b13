"""The front door: "/" leads each person to their place (the platform's people to the
Übersicht, a vendor to its portal); logging in and out."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from mahnwerk.web import access


def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login("/")
    if access.vendor_account(user) is not None:
        return redirect("web:portal")
    if access.is_workspace_user(user):
        return redirect("web:overview")
    raise PermissionDenied


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    next_page = "web:login"


def locked_out(request: HttpRequest, original_response: HttpResponse | None = None,
               credentials: dict | None = None) -> HttpResponse:
    """django-axes' answer to a locked-out sign-in (workspace, portal and admin login): what
    happened, for how long, and who can lift the lock; 429 Too Many Requests."""
    return render(request, "web/locked.html", {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "lock_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }, status=429)
