"""Django's form renderer, with its plainest widgets drawn in Python.

Django draws every widget through a template (``django/forms/widgets/input.html`` and the
attributes' ``attrs.html``, ``select.html`` and an ``select_option.html`` per option): on the
case list, whose filter has nineteen fields, that was a third of the page's template time and
a sixth of its CPU (docs/benchmarks.md, "The case list under load"). ``PythonWidgets`` writes the
same HTML, character for character, for the templates named below, and leaves every other one
(checkboxes, radios, textareas, a project's own) to the templates. No package does this for
Django's own widgets; it is two small functions, kept equal to the templates by
tests/test_form_renderer.py, which renders each with both.
"""

from __future__ import annotations

from typing import Any

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

#: The input widgets whose template is ``input.html`` unchanged.
INPUTS = frozenset(f"django/forms/widgets/{name}.html" for name in (
    "input", "text", "number", "email", "url", "password", "hidden", "date", "datetime",
    "time", "search", "tel", "color"))
SELECT = "django/forms/widgets/select.html"
OPTION = "django/forms/widgets/select_option.html"


def _attrs(attrs: dict[str, Any]) -> str:
    """``attrs.html``: `` name="value"``, a bare `` name`` for True, nothing for False."""
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            parts.append(f" {conditional_escape(name)}")
        else:
            parts.append(f' {conditional_escape(name)}="{conditional_escape(str(value))}"')
    return "".join(parts)


def _input(widget: dict[str, Any]) -> str:
    value = "" if widget["value"] is None else \
        f' value="{conditional_escape(str(widget["value"]))}"'
    return (f'<input type="{conditional_escape(widget["type"])}" '
            f'name="{conditional_escape(widget["name"])}"{value}{_attrs(widget["attrs"])}>')


def _select(widget: dict[str, Any]) -> str | None:
    parts = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
        for option in options:
            if option["template_name"] != OPTION:
                return None  # an option of its own template: the templates draw the select
            parts.append(f'\n  <option value="{conditional_escape(str(option["value"]))}"'
                         f'{_attrs(option["attrs"])}>{conditional_escape(option["label"])}'
                         "</option>\n")  # the option's template ends with a newline
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


class PythonWidgets(DjangoTemplates):
    """``FORM_RENDERER``: Django's templates, but the plain inputs and selects in Python."""

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        widget = context.get("widget")
        if widget is not None and widget.get("template_name") == template_name:
            if template_name in INPUTS:
                return mark_safe(_input(widget))
            if template_name == SELECT:
                drawn = _select(widget)
                if drawn is not None:
                    return mark_safe(drawn)
        return super().render(template_name, context, request)
