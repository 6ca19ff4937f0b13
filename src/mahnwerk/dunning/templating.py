"""The template engine of letters: vendors' templates are Django templates, compiled standalone
(no loaders, so a template can include no file). Apart from the letters and the models (which
check a template when it is saved) so that neither imports the other."""

from __future__ import annotations

from functools import cache, lru_cache

from django.core.exceptions import ValidationError
from django.template import Engine, Template, TemplateSyntaxError
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
