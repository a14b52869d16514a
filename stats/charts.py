"""Charts as server-side SVG, drawn by pygal and inlined into the pages.

Every chart has a table beside it with the same numbers; the SVG is an image for sighted
readers (role="img" with a label), so screen readers read the table. Text from users (app
and region names) reaches the SVG only as XML text, which pygal escapes; pygal's own
script (tooltips loaded from its website) is left out, so the pages load nothing foreign.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pygal
from markupsafe import Markup
from pygal.style import Style

_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#373c44",
    foreground_strong="#373c44",
    foreground_subtle="#8891a4",
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    value_font_size=11,
    legend_font_size=12,
    title_font_size=14,
    colors=("#2a7b9b", "#c0504d", "#6a994e", "#bc6c25", "#7b2cbf"),
)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_CONFIG = {
    "style": _STYLE,
    "js": [],
    "disable_xml_declaration": True,
    "explicit_size": False,
    "print_values": False,
    "show_legend": False,
    "margin": 8,
    "truncate_label": 40,
}


def _svg(chart: pygal.graph.graph.Graph, label: str) -> Markup:
    # Labels are escaped by the XML writer, so a literal "<script" can only be pygal's own.
    svg = _COMMENT.sub("", _SCRIPT.sub("", chart.render(is_unicode=True)))
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(label)}" ', 1)
    return Markup(svg)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def ranked_bars(label: str, names: Sequence[str], values: Sequence[int], series: str, *, limit: int = 15) -> Markup:
    """A horizontal bar chart of the first `limit` rows, largest at the top."""
    names, values = list(names)[:limit], list(values)[:limit]
    chart = pygal.HorizontalBar(
        **_CONFIG, width=640, height=max(160, 26 * len(names) + 60), show_y_guides=False, range=(0, max([1, *values]))
    )
    chart.title = label
    # pygal draws the first label at the bottom; reverse so the first rank is on top.
    chart.x_labels = list(reversed(names))
    chart.add(series, list(reversed(values)))
    return _svg(chart, label)


def monthly(label: str, months: Sequence[str], adoptions: Sequence[int], removals: Sequence[int], net: Sequence[int],
            names: tuple[str, str, str]) -> Markup:
    """New adoptions, removals and the net change per month."""
    chart = pygal.Bar(**{**_CONFIG, "show_legend": True}, width=720, height=320, legend_at_bottom=True,
                      x_label_rotation=-45, show_minor_x_labels=False)
    chart.title = label
    chart.x_labels = list(months)
    step = max(1, len(months) // 12)
    chart.x_labels_major = list(months)[::step]
    chart.add(names[0], list(adoptions))
    chart.add(names[1], [-r for r in removals])
    chart.add(names[2], list(net))
    return _svg(chart, label)


def shares(label: str, parts: Sequence[tuple[str, int]]) -> Markup:
    """A half-donut of how a whole divides (e.g. installations by freshness)."""
    chart = pygal.Pie(**{**_CONFIG, "show_legend": True}, width=420, height=300, inner_radius=0.5, half_pie=True,
                      legend_at_bottom=True)
    chart.title = label
    for name, value in parts:
        chart.add(name, value)
    return _svg(chart, label)
