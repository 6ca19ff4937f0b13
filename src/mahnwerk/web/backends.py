"""Signing in and permissions: Django's model backend, asking for a user's permissions once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q


class OneQueryModelBackend(ModelBackend):
    """Django's ``ModelBackend``, but a user's permissions (its own and its groups') come in one
    query instead of two: every workspace page asks what its user may do."""

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                permissions = Permission.objects.all()
            else:
                permissions = Permission.objects.filter(
                    Q(user=user_obj) | Q(group__user=user_obj))
            user_obj._perm_cache = {
                f"{app}.{codename}" for app, codename in permissions.values_list(
                    "content_type__app_label", "codename").distinct()}
        return user_obj._perm_cache
