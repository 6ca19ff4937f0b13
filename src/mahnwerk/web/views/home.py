"""The front door: "/" leads each person to their place; logging in and out."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from mahnwerk.web import access


def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login("/")
    if access.vendor_account(user) is not None:
        return redirect("web:portal")
    if access.is_workspace_user(user):
        return redirect("web:cases")
    raise PermissionDenied


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    next_page = "web:login"
