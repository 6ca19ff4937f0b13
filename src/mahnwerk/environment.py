"""Mahnwerk's settings read from the environment, strictly.

django-environ reads the variables (and the ``.env`` file); this adds what it leaves to the
caller: a value that cannot be what its setting needs stops the process at its start, with the
variable's name, the value and what to write. Without it, ``MAHNWERK_RUN_BATCH=abc`` ended in a
``ValueError`` that named no variable, any word but six was read as false (``MAHNWERK_HTTPS=ja``
would have started the demo's settings in production), and a fee cap of ``2,50`` or a site
address without its scheme was found by the first letter that used it. django-environ has no
bounds or checks of its own, and no other library reads these values, hence this module.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

NOTSET = environ.Env.NOTSET
#: What django-environ reads as false; anything else but its true words is refused here.
FALSE_WORDS = ("false", "off", "no", "n", "0")


class Env(environ.Env):
    """django-environ's reader whose values are checked as they are read."""

    def _given(self, var: str) -> str | None:
        """The variable's value, or None when it is not set or blank (its default then)."""
        value = self.ENVIRON.get(var)
        return value if value is not None and value.strip() else None

    def _default(self, var: str, default: Any, read: Any) -> Any:
        """What a variable that is not set or blank gives: its default (django-environ would
        read a blank as a value, and fail on it for a number)."""
        if default is not NOTSET:
            return default
        return read(var)

    def bool(self, var: str, default: Any = NOTSET) -> bool:  # type: ignore[override]
        value = self._given(var)
        if value is None:
            return self._default(var, default, super().bool)
        word = value.strip().lower()
        if word in self.BOOLEAN_TRUE_STRINGS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ImproperlyConfigured(
            f"{var}={value!r} is neither true nor false: write {var}=true or {var}=false.")

    def int(self, var: str, default: Any = NOTSET, *,  # type: ignore[override]
            least: int | None = None, most: int | None = None) -> int:
        value = self._given(var)
        if value is None:
            return self._default(var, default, super().int)
        example = _example(var, default)
        try:
            number = int(value.strip())
        except ValueError:
            raise ImproperlyConfigured(
                f"{var}={value!r} is not a whole number: write {_bounds(least, most)}"
                f"{example}.") from None
        _check_bounds(var, value, number, least, most, example)
        return number

    def float(self, var: str, default: Any = NOTSET, *,  # type: ignore[override]
              above: float | None = None) -> float:
        value = self._given(var)
        if value is None:
            return self._default(var, default, super().float)
        try:
            number = float(value.strip())
        except ValueError:
            number = float("nan")
        if number != number or (above is not None and number <= above):
            raise ImproperlyConfigured(
                f"{var}={value!r} is not a number above {above:g}: write a number with a point "
                f"for decimals{_example(var, default)}.")
        return number

    def json(self, var: str, default: Any = NOTSET) -> Any:  # type: ignore[override]
        try:
            return super().json(var, default=default)
        except ValueError as exc:  # json.JSONDecodeError
            raise ImproperlyConfigured(
                f"{var} is not JSON ({exc}): write an object, e.g. "
                f"{var}='{{\"MAILGUN_API_KEY\": \"…\"}}'.") from None

    def amount(self, var: str, default: str) -> str:
        """A sum of money in the platform's currency, 0 or more, with a point before the
        cents (kept as its text: the code that uses it reads it as a Decimal)."""
        value = self.str(var, default=default).strip()
        _amount(var, value, value, default)
        return value

    def amounts(self, var: str, default: list[str]) -> list[str]:
        """Sums of money separated by commas, each above 0."""
        values = [part.strip() for part in self.list(var, default=default)]
        raw = self.ENVIRON.get(var, "")
        for part in values:
            if _amount(var, raw, part, ",".join(default)) <= 0:
                raise ImproperlyConfigured(
                    f"{var}={raw!r} holds {part!r}, which is not above 0: write sums above 0 "
                    f"separated by commas{_example(var, ','.join(default))}.")
        return values

    def country(self, var: str, default: str, *, countries: frozenset[str]) -> str:
        """An ISO 3166-1 alpha-2 code, read in capitals."""
        value = self.str(var, default=default).strip().upper()
        if value not in countries:
            raise ImproperlyConfigured(
                f"{var}={value!r} is not an ISO 3166-1 country code of two letters"
                f"{_example(var, default)}.")
        return value

    def pattern(self, var: str, default: str) -> str:
        value = self.str(var, default=default)
        try:
            re.compile(value)
        except re.error as exc:
            raise ImproperlyConfigured(
                f"{var}={value!r} is not a regular expression ({exc})"
                f"{_example(var, default)}.") from None
        return value

    def log_level(self, var: str, default: str) -> str:
        value = self.str(var, default=default).strip().upper()
        if not isinstance(logging.getLevelName(value), int):
            raise ImproperlyConfigured(
                f"{var}={value!r} is not a log level: write DEBUG, INFO, WARNING, ERROR or "
                f"CRITICAL.")
        return value

    def url(self, var: str, default: str, *, schemes: tuple[str, ...]) -> str:
        """An address with one of ``schemes`` and a host (blank: the default)."""
        value = (self._given(var) or default).strip()
        if value:
            try:
                parts = urlsplit(value)
                parts.port  # noqa: B018 (a port that is not a number raises here)
            except ValueError as exc:
                parts, reason = None, str(exc)
            else:
                reason = ""
            if parts is None or parts.scheme not in schemes or not (
                    parts.hostname or (parts.scheme == "unix" and parts.path)):
                raise ImproperlyConfigured(
                    f"{var}={value!r} is not an address {' or '.join(f'{s}://…' for s in schemes)}"
                    f"{f' ({reason})' if reason else ''}{_example(var, default)}.")
        return value


def _example(var: str, default: Any) -> str:
    if default is NOTSET or default in ("", None) or isinstance(default, (bool, dict)):
        return ""
    return f", e.g. {var}={default} (its default)"


def _bounds(least: int | None, most: int | None) -> str:
    if least is not None and most is not None:
        return f"a number from {least} to {most}"
    if least is not None:
        return f"a number of {least} or more"
    return "a whole number"


def _check_bounds(var: str, value: str, number: int, least: int | None, most: int | None,
                  example: str) -> None:
    if (least is not None and number < least) or (most is not None and number > most):
        raise ImproperlyConfigured(
            f"{var}={value!r} is out of range: write {_bounds(least, most)}{example}.")


def _amount(var: str, raw: str, value: str, default: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise ImproperlyConfigured(
            f"{var}={raw!r} is not a sum of money: write it with a point before the cents and "
            f"no currency{_example(var, default)}.")
    return amount
