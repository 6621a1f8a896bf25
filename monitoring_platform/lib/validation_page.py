"""The per-partition validation page: what was checked, what failed, on which values."""

from __future__ import annotations

from collections.abc import Mapping

from monitoring_platform.lib.html import escape
from monitoring_platform.lib.validation import ValidationOutcome

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2933}
h1{font-size:1.5rem;margin-bottom:.2rem} .sub{color:#52606d;margin-top:0}
table{border-collapse:collapse;width:100%;margin:1rem 0} th,td{border-bottom:1px solid #e4e7eb;
padding:.45rem .6rem;text-align:left;vertical-align:top;font-size:.9rem} th{background:#f5f7fa}
.pass{color:#196c2e;font-weight:600} .fail-error{color:#b42318;font-weight:600}
.fail-warn{color:#b54708;font-weight:600} code{background:#f5f7fa;padding:0 .25rem;border-radius:3px;
word-break:break-all;line-height:1.6;display:inline-block} .verdict{font-size:1.1rem;padding:.6rem 1rem;border-radius:6px;display:inline-block}
.verdict.ok{background:#e3f9e5} .verdict.warn{background:#fffaeb} .verdict.error{background:#fef3f2}
"""


def render_validation_page(
    model: str,
    date: str,
    outcome: ValidationOutcome,
    ingestion: Mapping[str, object],
    quarantine_reasons: Mapping[str, int],
) -> str:
    """A self-contained HTML page (no script) for one model and day."""
    errors, warnings = outcome.failed("error"), outcome.failed("warn")
    if errors:
        verdict = (
            "error",
            f"{len(errors)} contract expectation(s) failed: downstream assets are blocked.",
        )
    elif warnings:
        verdict = ("warn", f"{len(warnings)} soft expectation(s) failed (warnings, not blocking).")
    else:
        verdict = ("ok", f"All {len(outcome.results)} expectations passed.")
    rows = []
    for r in sorted(outcome.results, key=lambda r: (r.success, r.spec.severity != "error")):
        status_class = "pass" if r.success else f"fail-{r.spec.severity}"
        status = "passed" if r.success else f"FAILED ({r.spec.severity})"
        share = f"{r.unexpected_share:.2%}" if r.unexpected_share is not None else ""
        count = f"{r.unexpected_count:,}" if r.unexpected_count is not None else ""
        samples = ", ".join(f"<code>{escape(v)}</code>" for v in r.sample_values)
        kwargs = ", ".join(
            f"{escape(k)}={escape(_short(v))}" for k, v in r.spec.kwargs.items() if k != "column"
        )
        note = f"<br><small>{escape(r.exception)}</small>" if r.exception else ""
        rows.append(
            f"<tr><td class='{status_class}'>{status}</td><td><code>{escape(r.spec.type)}</code>"
            f"{note}</td><td>{escape(r.spec.column or '')}</td><td>{kwargs}</td><td>{count}</td>"
            f"<td>{share}</td><td>{samples}</td><td>{escape(r.spec.origin)}</td></tr>"
        )
    reasons = (
        "".join(
            f"<tr><td>{escape(reason)}</td><td>{n:,}</td></tr>"
            for reason, n in sorted(quarantine_reasons.items(), key=lambda kv: -kv[1])
        )
        or "<tr><td colspan='2'>none</td></tr>"
    )
    facts = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(_number(v))}</td></tr>" for k, v in ingestion.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Validation · {escape(model)} · {escape(date)}</title><style>{STYLE}</style></head>
<body>
<h1>Validation of {escape(model)} on {escape(date)}</h1>
<p class="sub">Great Expectations over {outcome.rows:,} accepted rows, after the record contract.</p>
<p class="verdict {verdict[0]}">{escape(verdict[1])}</p>
<h2>Expectations</h2>
<table><thead><tr><th>status</th><th>expectation</th><th>column</th><th>parameters</th>
<th>unexpected</th><th>share</th><th>sample unexpected values</th><th>from</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<h2>Ingestion</h2>
<table><tbody>{facts}</tbody></table>
<h2>Quarantined records by reason</h2>
<table><thead><tr><th>reason</th><th>records</th></tr></thead><tbody>{reasons}</tbody></table>
</body></html>
"""


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
