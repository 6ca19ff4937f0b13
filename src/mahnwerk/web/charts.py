"""The Übersicht's charts: pygal draws each figure as SVG on the server.

pygal writes its look into the SVG as a ``<style>`` element (and a ``<script>`` for its
tooltips), which the page's Content-Security-Policy refuses inline. So each chart is an image of
its own (``<img src=…svg>``, ``web:overview-chart``): an SVG shown as an image runs no script and
styles nothing outside itself. Before it leaves, the script and the empty tooltip are taken out,
and the response's own policy allows exactly that one style sheet by its SHA-256 hash and
nothing else (``default-src 'none'``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pygal
from pygal.style import Style

from mahnwerk.web.overview import percent_text, whole_money

#: The workspace's colours (workspace.css) and its system font: no web font is loaded.
STYLE = dict(
    background="#ffffff", plot_background="#ffffff", foreground="#1f2933",
    foreground_strong="#1f2933", foreground_subtle="#616e7c", opacity=".9", opacity_hover="1",
    font_family='system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", '
                "sans-serif",
    label_font_size=13, major_label_font_size=13, legend_font_size=13, title_font_size=15,
    value_font_size=12, no_data_font_size=18, guide_stroke_color="#d9dee4",
    major_guide_stroke_color="#b8c2cc",
    colors=("#1d4ed8", "#f4c430", "#2e7d32", "#c62828", "#7e22ce", "#0284c7", "#b26a00",
            "#616e7c", "#9e9e9e"))
#: Each route of recovered money keeps its colour in every chart (``overview.route_order``).
ROUTE_COLOURS = {"offer_link": "#1d4ed8", "agency": "#2e7d32", "vendor": "#b26a00",
                 "no_letter": "#9e9e9e"}
LETTER_COLOURS = ("#f4c430", "#c62828", "#7e22ce", "#0284c7", "#616e7c")


def route_colour(route: str) -> str:
    if route.startswith("letter") and route[6:].isdigit():
        return LETTER_COLOURS[(int(route[6:]) - 1) % len(LETTER_COLOURS)]
    return ROUTE_COLOURS.get(route, "#616e7c")

WIDTH = 720
#: A chart whose table goes under it (months by route, vendors) takes the whole width.
WIDE = 960


class Chart:
    """A rendered chart: the SVG and the hash of its one style sheet."""

    def __init__(self, svg: bytes, style_hash: str) -> None:
        self.svg = svg
        self.style_hash = style_hash

    @property
    def policy(self) -> dict[str, list[str]]:
        """The Content-Security-Policy of this SVG alone (django-csp's ``@csp``)."""
        return {"default-src": ["'none'"], "style-src": [f"'sha256-{self.style_hash}'"],
                "frame-ancestors": ["'none'"]}


def _render(chart: Any) -> Chart:
    found: dict[str, str] = {}

    def strip(root: Any) -> Any:
        for parent in root.iter():
            for child in list(parent):
                if child.tag == "script" or (child.tag == "g"
                                             and child.get("class") == "tooltip"):
                    parent.remove(child)
                elif child.tag == "style":
                    found["style"] = child.text or ""
        return root

    chart.add_xml_filter(strip)
    svg = chart.render()
    digest = hashlib.sha256(found.get("style", "").encode("utf-8")).digest()
    return Chart(svg, base64.b64encode(digest).decode("ascii"))


def _config(title: str, *, height: int, formatter: Callable[[float], str],
            colours: Sequence[str] | None = None, width: int = WIDTH, **options: Any
            ) -> dict[str, Any]:
    style = Style(**{**STYLE, **({"colors": tuple(colours)} if colours else {})})
    return {"title": title, "style": style, "width": width, "height": height, "js": [],
            "disable_xml_declaration": False, "value_formatter": formatter,
            "no_data_text": "–", "truncate_label": 28, "truncate_legend": 32,
            "legend_at_bottom": True, "print_values": False, "max_scale": 6,
            **options}


def _floats(values: Sequence[Decimal | None]) -> list[float | None]:
    """The values as pygal draws them; None (no figure) stays a gap."""
    return [float(v) if v is not None else None for v in values]


def amounts_height(groups: int, *, horizontal: bool = True) -> int:
    """The height of a chart of ``groups`` bars (the page gives its image that height)."""
    return max(240, 90 + 34 * groups) if horizontal else 340


def grouped_height(groups: int) -> int:
    return max(260, 110 + 48 * groups)


def amounts_chart(title: str, labels: list[str], values: Sequence[Decimal | None], currency: str,
                  *, horizontal: bool = True) -> Chart:
    """One amount per group (states, triggers, ages): bars in one currency."""
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    chart = kind(**_config(title, height=amounts_height(len(labels), horizontal=horizontal),
                           show_legend=False,
                           formatter=lambda v: whole_money(v, currency)))
    if horizontal:  # pygal draws the first bar at the bottom; the table reads from the top
        labels, values = labels[::-1], values[::-1]
    chart.x_labels = labels
    chart.add(currency, _floats(values))
    return _render(chart)


def stacked_chart(title: str, labels: list[str], series: list[tuple[str, list[Decimal]]],
                  currency: str, *, colours: Sequence[str] | None = None) -> Chart:
    """Amounts per month stacked by route."""
    chart = pygal.StackedBar(**_config(title, height=380, width=WIDE, x_label_rotation=-30,
                                       formatter=lambda v: whole_money(v, currency),
                                       legend_at_bottom_columns=3, colours=colours))
    chart.x_labels = labels
    for name, values in series:
        chart.add(name, _floats(values))
    return _render(chart)


def grouped_chart(title: str, labels: list[str], series: list[tuple[str, list[Decimal]]],
                  currency: str) -> Chart:
    """Several amounts per vendor side by side."""
    chart = pygal.HorizontalBar(**_config(
        title, height=grouped_height(len(labels)), width=WIDE, legend_at_bottom_columns=3,
        formatter=lambda v: whole_money(v, currency)))
    chart.x_labels = labels[::-1]  # the first at the top, as in the table
    for name, values in series:
        chart.add(name, _floats(values[::-1]))
    return _render(chart)


def rates_chart(title: str, labels: list[str], values: Sequence[Decimal | None]) -> Chart:
    """A rate in percent per run, 0 to 100."""
    chart = pygal.Bar(**_config(title, height=340, show_legend=False, range=(0, 100),
                                formatter=lambda v: percent_text(Decimal(str(v)))))
    chart.x_labels = labels
    chart.add(title, _floats(values))
    return _render(chart)
