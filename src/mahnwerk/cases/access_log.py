"""The access log: who looked at or took out whose personal data (``cases.AccessRecord``).

Every case page of the workspace and the portal, every letter opened and every export (a list,
a handover file, the print queue, a buyer's data) writes one record; the views and commands
call ``record`` and nothing else writes it. Administrators read it in the admin (Art. 5 (2)
GDPR: the controller can show who had access).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from mahnwerk.cases.models import AccessKind, AccessRecord


def command_actor(command: str) -> str:
    """The actor of a command line: the operating system's user, as "cli:<user>"."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # no user name in a container without a passwd entry
        name = "?"
    return f"cli:{name}"[:150]


def record(*, kind: AccessKind | str, target: str, order_ids: Iterable[str] = (),
           user: AbstractBaseUser | AnonymousUser | None = None, actor: str = "",
           via: str = "") -> AccessRecord:
    """Write one access record: ``user`` (a signed-in person) or ``actor`` (a command)."""
    signed_in = user if user is not None and user.is_authenticated else None
    who = actor or (signed_in.get_username() if signed_in is not None else "anonymous")
    return AccessRecord.objects.create(
        at=timezone.now(), user=signed_in, actor=who[:150], kind=kind, target=str(target)[:255],
        order_ids=sorted(set(order_ids)), via=via[:500])
