"""The template engine of letters: vendors' templates are Django templates, compiled standalone
(no loaders, so a template can include no file). Apart from the letters and the models (which
check a template when it is saved) so that neither imports the other.

``check_template`` refuses a syntax error (the model's ``clean``); ``render_problems`` renders a
template with a context and names every error and unknown placeholder with its line (the
admin's check with a sample case, ``letters.check_words``)."""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.base import VariableNode
from django.utils.translation import get_language, override
from django.utils.translation import gettext as _

# --- templates ---------------------------------------------------------------------------


_LIBRARIES = {"i18n": "django.templatetags.i18n", "l10n": "django.templatetags.l10n",
              "tz": "django.templatetags.tz"}


@cache
def _engine(*, debug: bool = False) -> Engine:
    # Standalone: no loaders, so a vendor's template can include no file. The checking engine
    # runs in debug mode so that a syntax error carries its line; letters render without.
    return Engine(debug=debug, libraries=_LIBRARIES)


@lru_cache(maxsize=256)
def compiled(source: str) -> Template:
    return _engine().from_string(source)


def check_template(source: str, *, field: str) -> None:
    """Refuse a template with a syntax error: a ValidationError for ``field`` with the line."""
    try:
        _engine(debug=True).from_string(source)
    except TemplateSyntaxError as exc:
        debug = getattr(exc, "template_debug", None) or {}
        raise ValidationError(
            {field: _("Line %(line)s: %(error)s")
             % {"line": debug.get("line", "?"), "error": exc}},
            code="template_syntax") from None


# --- the check before a template is saved: does it render, and does it know every name -----

#: What an unknown placeholder renders as while checking (``Engine.string_if_invalid``): the
#: name between two control characters no template writes.
_UNKNOWN = "\x1a%s\x1a"
_UNKNOWN_FOUND = re.compile("\x1a([^\x1a]*)\x1a")


@cache
def _checking_engine() -> Engine:
    return Engine(debug=True, libraries=_LIBRARIES, string_if_invalid=_UNKNOWN)


def _line(exc: BaseException) -> int | None:
    debug = getattr(exc, "template_debug", None) or {}
    return debug.get("line")


def _line_of(template: Template, source: str, name: str) -> int | None:
    """The line of the first ``{{ name }}``; else of the first line naming it at all."""
    for node in template.nodelist.get_nodes_by_type(VariableNode):
        if str(node.filter_expression.var) == name and node.token is not None:
            return node.token.lineno
    for number, text in enumerate(source.splitlines(), start=1):
        if name in text:
            return number
    return None


def render_problems(source: str, context: dict[str, Any], *, autoescape: bool = True,
                    language: str | None = None) -> list[tuple[int | None, str]]:
    """Render a template as a letter is rendered, with ``context`` (in the letter's
    ``language``), and say what goes wrong, each with its line, in the reader's language: a
    syntax error, an error while rendering (a filter that fails on the values), and every
    placeholder the context does not know (a letter would print it empty:
    ``{{ buyer_nmae }}``). An empty list: the template renders."""
    try:
        template = _checking_engine().from_string(source)
    except TemplateSyntaxError as exc:
        return [(_line(exc), str(exc))]
    try:
        with override(language or get_language()):
            output = template.render(Context(context, autoescape=autoescape))
    except Exception as exc:
        return [(_line(exc), f"{type(exc).__name__}: {exc}" if str(exc) else
                 type(exc).__name__)]
    problems = []
    for name in dict.fromkeys(_UNKNOWN_FOUND.findall(output)):
        problems.append((_line_of(template, source, name),
                         _("unknown placeholder {{ %(name)s }}") % {"name": name}))
    return problems
