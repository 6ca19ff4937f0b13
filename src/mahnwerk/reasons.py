"""Stored facts, words at reading time: a reason is a code with its parameters.

Decisions of a run and case events store ``(code, params)`` (JSON: dates as ISO text, amounts as
``{"amount": "12.30", "currency": "EUR"}``), never a sentence. ``render`` turns them into words
in the reader's language when someone reads them, so the same facts read "1. Mahnung fällig seit
08.10.2026" in German and "letter 1 due since 10/08/2026" in English, whoever caused them.

Each app registers its own codes (``register``) in a module it imports in ``AppConfig.ready``;
this module knows no app. Written here rather than taken from a library because what is needed is
small (a registry of gettext messages and typed parameters) and no package does just that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext

from mahnwerk.formats import format_day
from mahnwerk.money import format_money

#: The code of a text written by a person (a block reason, a note) or migrated from a time
#: before codes: rendered as it stands.
TEXT = "text"


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason as stored: what happened, in a code, and the facts that go into its words."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        return render(self.code, self.params)

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True, slots=True)
class _Entry:
    message: Promise | str
    kinds: Mapping[str, str]


_REGISTRY: dict[str, _Entry] = {TEXT: _Entry(message="%(text)s", kinds={})}


def register(code: str, message: Promise | str, **kinds: str) -> str:
    """Register a reason: its message (a lazy gettext text with ``%(name)s`` placeholders) and
    the kind of each parameter that is not plain text: ``date``, ``money``, ``label`` (a lazy
    text chosen by code, see ``register_labels``). Returns the code."""
    existing = _REGISTRY.get(code)
    if existing is not None and str(existing.message) != str(message):
        raise ValueError(f"reason code {code!r} is registered twice with different words")
    _REGISTRY[code] = _Entry(message=message, kinds=dict(kinds))
    return code


_LABELS: dict[str, Mapping[str, Promise | str]] = {}


def register_labels(group: str, labels: Mapping[str, Promise | str]) -> None:
    """Words for codes inside a parameter (a case state, a channel): ``label:<group>``."""
    _LABELS[group] = dict(labels)


def is_registered(code: str) -> bool:
    return code in _REGISTRY


_PLACEHOLDER = re.compile(r"%\((\w+)\)")


def registered() -> dict[str, dict[str, str]]:
    """Every registered code with the parameters its words use, each with its kind (``""``:
    plain text): what a reader of the registry, a test or a listing, needs to know."""
    with translation.override(None):
        return {code: {name: entry.kinds.get(name, "")
                       for name in dict.fromkeys(_PLACEHOLDER.findall(str(entry.message)))}
                for code, entry in sorted(_REGISTRY.items())}


def money_param(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": str(amount), "currency": currency}


def date_param(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return value.isoformat()


def _day(value: Any) -> str:
    if isinstance(value, date | datetime):
        return format_day(value)
    text = str(value)
    try:
        return format_day(datetime.fromisoformat(text) if "T" in text
                          else date.fromisoformat(text))
    except ValueError:
        return text


def _money(value: Any) -> str:
    if isinstance(value, Mapping):
        return format_money(Decimal(str(value["amount"])), str(value["currency"]))
    return str(value)


_FORMATTERS: dict[str, Callable[[Any], str]] = {"date": _day, "money": _money}

#: What a fact holding personal data (a note's text, an address, a reason typed by a person)
#: is replaced with when the case is anonymised: a marker, rendered in the reader's language.
ANONYMISED: dict[str, bool] = {"anonymised": True}


def is_anonymised(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("anonymised") is True


def register_kind(kind: str, formatter: Callable[[Any], str]) -> None:
    """A parameter kind of an app's own (e.g. the problems of an address, stored as codes):
    ``formatter`` turns the stored value into words in the active language."""
    existing = _FORMATTERS.get(kind)
    if existing is not None and existing is not formatter:
        raise ValueError(f"parameter kind {kind!r} is registered twice")
    _FORMATTERS[kind] = formatter


def _format(kind: str, value: Any) -> Any:
    if value is None:
        return "–"
    if is_anonymised(value):
        return gettext("[anonymised]")
    if kind.startswith("label:"):
        labels = _LABELS.get(kind.split(":", 1)[1], {})
        return str(labels.get(str(value), value))
    formatter = _FORMATTERS.get(kind)
    return formatter(value) if formatter else value


def render(code: str, params: Mapping[str, Any] | None) -> str:
    """The words of a stored reason in the active language; an unknown code shows as itself
    with its parameters, so nothing stored is ever hidden."""
    params = dict(params or {})
    entry = _REGISTRY.get(code)
    if entry is None:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
        return f"{code} ({detail})" if detail else code
    values = {name: _format(entry.kinds.get(name, ""), value) for name, value in params.items()}
    try:
        return str(entry.message) % values
    except (KeyError, TypeError, ValueError):
        detail = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
        return f"{code} ({detail})"


def text(value: str) -> Reason:
    """A person's own words (or a text from before codes)."""
    return Reason(TEXT, {"text": value})


__all__ = ["ANONYMISED", "TEXT", "Reason", "date_param", "is_anonymised", "is_registered",
           "money_param", "register", "register_kind", "register_labels", "registered",
           "render", "text"]
