"""HTML the platform writes, safe for values that come from the public internet.

Data embedded in a ``<script>`` element is JSON with ``<``, ``>``, ``&`` and the JavaScript line
separators escaped, so no value can close the element or start markup; text in markup goes
through :func:`html.escape`.
"""

from __future__ import annotations

import html
import json
from typing import Any

_SCRIPT_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def script_json(value: Any, encoder: type[json.JSONEncoder] | None = None) -> str:
    """JSON text that is inert inside a ``<script>`` element and equal in meaning to ``value``."""
    return json.dumps(value, cls=encoder, ensure_ascii=False, allow_nan=True).translate(
        _SCRIPT_ESCAPES
    )


def escape(value: Any) -> str:
    """Text for HTML element content or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def evidently_html(*snapshots) -> str:
    """A standalone HTML page for Evidently snapshots (one after another), data embedded safely.

    Evidently's own ``save_html`` embeds the report data with plain ``json.dumps`` inside a script
    element, where a value containing ``</script>`` would end the element. This renders the same
    page with the data block written by :func:`script_json`.
    """
    from evidently.core.metric_types import DetailsInfo
    from evidently.legacy.model.dashboard import DashboardInfo
    from evidently.legacy.model.widget import AdditionalGraphInfo, BaseWidgetInfo
    from evidently.legacy.renderers.html_widgets import group_widget
    from evidently.legacy.utils import NumpyEncoder
    from evidently.legacy.utils.dashboard import TemplateParams, file_html_template

    widgets = [group_widget(title="", widgets=[w for s in snapshots for w in s._widgets])]
    widgets += [w for s in snapshots for w in s._tests_widgets]
    items = []
    for info_item in widgets:
        for graph in info_item.get_additional_graphs():
            params = graph.params if isinstance(graph, AdditionalGraphInfo) else graph
            items.append(DetailsInfo(title="", info=params, id=graph.id))
    additional_graphs = {
        f"{item.id}": item.info.dict() if isinstance(item.info, BaseWidgetInfo) else item.info
        for item in items
    }
    dashboard_id = "evidently_report"
    dashboard_info = DashboardInfo(name="Report", widgets=widgets).dict()
    for widget in dashboard_info["widgets"]:
        widget.pop("additionalGraphs", None)
    page = file_html_template(
        TemplateParams(
            dashboard_id=dashboard_id,
            dashboard_info=DashboardInfo(name="Report", widgets=[]),
            additional_graphs={},
            embed_data=False,
        )
    )
    data_block = (
        "<script>\n"
        f"    var {dashboard_id} = {_roundtrip(dashboard_info, NumpyEncoder)};\n"
        f"    var additional_graphs_{dashboard_id} = {_roundtrip(additional_graphs, NumpyEncoder)};\n"
        "</script>"
    )
    placeholder = "<!-- no embedded data -->"
    if page.count(placeholder) != 1:
        raise RuntimeError("unexpected Evidently page template: data placeholder not found once")
    return page.replace(placeholder, data_block)


def _roundtrip(value: Any, encoder: type[json.JSONEncoder]) -> str:
    # Evidently's encoder turns numpy and pandas values into JSON first; then escape for script.
    return script_json(json.loads(json.dumps(value, cls=encoder)))


def insert_before_report(page: str, section: str) -> str:
    """Put a section of the platform's own (escaped) HTML at the top of an Evidently page."""
    marker = "<body>"
    index = page.find(marker)
    if index < 0:
        raise RuntimeError("unexpected Evidently page template: no <body>")
    cut = index + len(marker)
    return page[:cut] + section + page[cut:]
