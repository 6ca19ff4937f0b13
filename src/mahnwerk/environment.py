"""Mahnwerk's settings read from the environment, strictly.

django-environ reads the variables (its ``.env`` file, ``$OTHER`` references, a prefix); this
adds what it leaves to the caller: a value that cannot be what its setting needs stops the
process at its start, with the variable's name, the value and what to write. Without it,
``MAHNWERK_RUN_BATCH=abc`` ended in a ``ValueError`` that named no variable, any word but six
was read as false (``MAHNWERK_HTTPS=ja`` would have started the demo's settings in
production), and a fee cap of ``2,50`` or a site address without its scheme was found by the
first letter that used it. django-environ has no bounds or checks of its own, and no other
library reads these values, hence this module.

A variable that is not set, or set blank (``MAHNWERK_RUN_BATCH=``), gives its default in every
reader here (``blank=`` says otherwise where a blank has a meaning of its own).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Collection
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

    def given(self, var: str) -> str | None:
        """The variable's text (a ``$OTHER`` reference followed, the prefix added), or None
        when it is not set or blank."""
        value = self.get_value(var, cast=str, default=None)
        return value if value is not None and value.strip() else None

    def _absent(self, var: str, default: Any, blank: Any) -> Any:
        """What a variable that is not set or blank gives."""
        if blank is not NOTSET and self.ENVIRON.get(f"{self.prefix}{var}") is not None:
            return blank
        if default is NOTSET:
            raise ImproperlyConfigured(f"{self.prefix}{var} is not set (or blank): set it.")
        return default

    def bool(self, var: str, default: Any = NOTSET) -> bool:
        value = self.given(var)
        if value is None:
            return self._absent(var, default, NOTSET)
        word = value.strip().lower()
        if word in self.BOOLEAN_TRUE_STRINGS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ImproperlyConfigured(
            f"{var}={value!r} is neither true nor false: write {var}=true or {var}=false.")

    def int(self, var: str, default: Any = NOTSET, *, least: int | None = None,
            most: int | None = None, blank: Any = NOTSET) -> Any:
        """A whole number from ``least`` to ``most``; ``blank``: what a blank value means (by
        default the default)."""
        value = self.given(var)
        if value is None:
            return self._absent(var, default, blank)
        example = _example(var, default)
        try:
            number = int(value.strip())
        except ValueError:
            raise ImproperlyConfigured(
                f"{var}={value!r} is not a whole number: write {_bounds(least, most)}"
                f"{example}.") from None
        if (least is not None and number < least) or (most is not None and number > most):
            raise ImproperlyConfigured(
                f"{var}={value!r} is out of range: write {_bounds(least, most)}{example}.")
        return number

    def float(self, var: str, default: Any = NOTSET, *, above: float = -math.inf,
              most: float = math.inf) -> Any:
        """A finite number above ``above`` and at most ``most``."""
        value = self.given(var)
        if value is None:
            return self._absent(var, default, NOTSET)
        try:
            number = float(value.strip())
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and above < number <= most):
            within = " and ".join(
                part for part in (f"above {above:g}" if math.isfinite(above) else "",
                                  f"at most {most:g}" if math.isfinite(most) else "") if part)
            raise ImproperlyConfigured(
                f"{var}={value!r} is not a number{' ' + within if within else ''}: write it with "
                f"a point for decimals{_example(var, default)}.")
        return number

    def json(self, var: str, default: Any = NOTSET) -> Any:
        """A JSON object (blank: the default)."""
        value = self.given(var)
        if value is None:
            return self._absent(var, default, NOTSET)
        try:
            parsed = super().json(var)
        except ValueError as exc:  # json.JSONDecodeError
            parsed, reason = None, f" ({exc})"
        else:
            reason = ""
        if not isinstance(parsed, dict):
            raise ImproperlyConfigured(
                f"{var} is not a JSON object{reason}: write its options between braces, e.g. "
                f"{var}='{{\"MAILGUN_API_KEY\": \"…\"}}'.")
        return parsed

    def amount(self, var: str, default: str) -> str:
        """A sum of money in the platform's currency, 0 or more, with a point before the cents
        (kept as its text: the code that uses it reads it as a Decimal)."""
        value = (self.given(var) or default).strip()
        _amount(var, value, value, default)
        return value

    def amounts(self, var: str, default: list[str]) -> list[str]:
        """Sums of money separated by commas, each above 0."""
        raw = self.given(var)
        if raw is None:
            return default
        values = [part.strip() for part in raw.split(",")]
        for part in values:
            if _amount(var, raw, part, ",".join(default)) <= 0:
                raise ImproperlyConfigured(
                    f"{var}={raw!r} holds {part!r}, which is not above 0: write sums above 0 "
                    f"separated by commas{_example(var, ','.join(default))}.")
        return values

    def country(self, var: str, default: str, *, countries: Collection[str]) -> str:
        """An ISO 3166-1 alpha-2 code, read in capitals."""
        value = self.given(var) or default
        if value.strip().upper() not in countries:
            raise ImproperlyConfigured(
                f"{var}={value!r} is not an ISO 3166-1 country code of two letters"
                f"{_example(var, default)}.")
        return value.strip().upper()

    def pattern(self, var: str, default: str) -> str:
        """A regular expression."""
        value = self.given(var) or default
        try:
            re.compile(value)
        except re.error as exc:
            raise ImproperlyConfigured(
                f"{var}={value!r} is not a regular expression ({exc})"
                f"{_example(var, default)}.") from None
        return value

    def log_level(self, var: str, default: str) -> str:
        value = self.given(var) or default
        if not isinstance(logging.getLevelName(value.strip().upper()), int):
            raise ImproperlyConfigured(
                f"{var}={value!r} is not a log level: write DEBUG, INFO, WARNING, ERROR or "
                f"CRITICAL.")
        return value.strip().upper()

    def address(self, var: str, default: str, *, schemes: tuple[str, ...],
                example: str = "", default_from: str = "", several: bool = False) -> str:
        """An address with one of ``schemes`` and a host (or, for ``unix``, a path); blank:
        the default. ``default_from`` names the variable the default was made from (a fault
        in it is said as its), ``example`` what to suggest; ``several``: addresses separated
        by commas or semicolons (Django's Redis cache takes several servers)."""
        value = self.given(var)
        named = var if value is not None or not default_from else default_from
        value = (value or default).strip()
        for one in re.split(r"[,;]", value) if several and value else [value] if value else []:
            try:
                parts = urlsplit(one.strip())
                parts.port  # noqa: B018 (a port that is not a number raises here)
            except ValueError as exc:
                parts, reason = None, f" ({exc})"
            else:
                reason = ""
            if parts is None or parts.scheme not in schemes or not (
                    parts.hostname or (parts.scheme == "unix" and parts.path)):
                said = f"{named}={value!r}"
                if named != var:
                    said += f", from which {var} is made,"
                suggest = f", e.g. {var}={example}" if example else ""
                raise ImproperlyConfigured(
                    f"{said} is not an address {' or '.join(f'{s}://…' for s in schemes)}"
                    f"{reason}{suggest}.")
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
    if most is not None:
        return f"a number of at most {most}"
    return "a whole number"


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
