"""HTML the platform writes, safe for values that come from the public internet.

Data embedded in a ``<script>`` element is JSON with ``<``, ``>``, ``&`` and the JavaScript line
separators escaped, so no value can close the element or start markup; text in markup goes
through :func:`html.escape`. Pages come from the Jinja2 templates in
``monitoring_platform/templates`` (autoescaped) with one layout and one stylesheet; files every
page shares (the stylesheet, Evidently's bundle) are stored once per site under ``_static/``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import importlib.util
import json
import math
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

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


def evidently_html(*snapshots) -> Markup:
    """The Evidently part of a page for snapshots (one after another), data embedded safely.

    Evidently's own ``save_html`` embeds the report data with plain ``json.dumps`` inside a script
    element, where a value containing ``</script>`` would end the element, and inlines its 3.5 MB
    bundle into every page. This gives the data block (written by :func:`script_json`) and the
    element Evidently draws into; the layout loads the bundle once per site from ``_static/``.
    """
    from evidently.core.metric_types import DetailsInfo
    from evidently.legacy.model.dashboard import DashboardInfo
    from evidently.legacy.model.widget import AdditionalGraphInfo, BaseWidgetInfo
    from evidently.legacy.renderers.html_widgets import group_widget
    from evidently.legacy.utils import NumpyEncoder

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
    dashboard_info = DashboardInfo(name="Report", widgets=widgets).dict()
    for widget in dashboard_info["widgets"]:
        widget.pop("additionalGraphs", None)
    return Markup(
        "<script>\n"
        f"var {EVIDENTLY_ID} = {_roundtrip(dashboard_info, NumpyEncoder)};\n"
        f"var additional_graphs_{EVIDENTLY_ID} = {_roundtrip(additional_graphs, NumpyEncoder)};\n"
        f'</script>\n<div id="root_{EVIDENTLY_ID}"></div>'
    )


def _roundtrip(value: Any, encoder: type[json.JSONEncoder]) -> str:
    # Evidently's encoder turns numpy and pandas values into JSON first; then escape for script.
    return script_json(json.loads(json.dumps(value, cls=encoder)))


# -- templates ---------------------------------------------------------------------------------

EVIDENTLY_ID = "evidently_report"
STATIC_PREFIX = "_static/"


@dataclass(frozen=True)
class StaticFile:
    """A file every page shares, stored once per site under a name that changes with its content."""

    key: str
    data: bytes
    content_type: str


@functools.cache
def static_files() -> dict[str, StaticFile]:
    """``{role: file}``: the site stylesheet and Evidently's bundle and icon font.

    The icon font is a data URL in a stylesheet, which loads from ``file://`` where a font file
    would be refused.
    """
    site_css = files("monitoring_platform").joinpath("templates", "site.css").read_bytes()
    out = {"site_css": _static("site", "css", site_css, "text/css; charset=utf-8")}
    folder = _evidently_static_folder()
    if folder is not None:
        bundle = (folder / "index.js").read_bytes()
        font = base64.b64encode((folder / "material-ui-icons.woff2").read_bytes()).decode()
        css = (
            "@font-face{font-family:'Material Icons';font-style:normal;font-weight:400;"
            f"src:url(data:font/woff2;base64,{font}) format('woff2')}}"
            ".material-icons{font-family:'Material Icons';font-weight:normal;font-style:normal;"
            "font-size:24px;line-height:1;letter-spacing:normal;text-transform:none;"
            "display:inline-block;white-space:nowrap;word-wrap:normal;direction:ltr;"
            "-webkit-font-smoothing:antialiased}.center-align{text-align:center}"
        ).encode()
        out["evidently_js"] = _static(
            "evidently", "js", bundle, "application/javascript; charset=utf-8"
        )
        out["evidently_css"] = _static("evidently", "css", css, "text/css; charset=utf-8")
    return out


def _static(stem: str, ext: str, data: bytes, content_type: str) -> StaticFile:
    digest = hashlib.sha256(data).hexdigest()[:12]
    return StaticFile(f"{STATIC_PREFIX}{stem}-{digest}.{ext}", data, content_type)


def _evidently_static_folder() -> Path | None:
    spec = importlib.util.find_spec("evidently")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "nbextension" / "static"
    return folder if (folder / "index.js").is_file() else None


def ensure_static_files(store) -> list[str]:
    """Write the shared files the store lacks (each once: its name changes with its content)."""
    written = []
    for item in static_files().values():
        if not store.exists(item.key):
            store.put_bytes(item.key, item.data, content_type=item.content_type)
            written.append(item.key)
    return written


@functools.cache
def environment() -> jinja2.Environment:
    """The templates under ``monitoring_platform/templates``; ``.html`` ones autoescape."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitoring_platform", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["script_json"] = lambda value: Markup(script_json(value))
    env.filters["num"] = number
    env.filters["pct"] = percent
    return env


def render(template: str, **context: Any) -> str:
    """Render a template; every page gets ``static`` (the shared files' keys)."""
    context.setdefault("static", {role: f.key for role, f in static_files().items()})
    context.setdefault("evidently", None)
    context.setdefault("inline_css", None)
    context.setdefault("subtitle", "")
    return environment().get_template(template).render(**context)


def site_css() -> Markup:
    """The site stylesheet's text, for a page that must carry it inline (an e-mail)."""
    return Markup(static_files()["site_css"].data.decode("utf-8"))


def number(value: Any, digits: int = 4) -> str:
    """A number for people: thousands separated, ``digits`` significant digits, ``–`` for none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (
        isinstance(value, float) and value.is_integer() and abs(value) >= 1
    ):
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def percent(value: Any, digits: int = 1) -> str:
    """A share as a percentage; a dash for a missing or non-finite value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{float(value):.{digits}%}"


def milliseconds(value: Any) -> str:
    """A duration in milliseconds with one decimal; a dash for a missing value."""
    return "–" if value is None else f"{float(value):,.1f} ms"


def money(value: Any) -> str:
    """An amount with two decimals and thousands separators; a dash for a missing value."""
    return "–" if value is None else f"{float(value):,.2f}"


def whole(value: Any) -> str:
    """A number rounded to a whole with thousands separators; a dash for a missing value."""
    return "–" if value is None else f"{float(value):,.0f}"
