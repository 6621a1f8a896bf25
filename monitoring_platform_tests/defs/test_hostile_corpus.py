"""A corpus of hostile values through a whole evaluation, in process: every page opened in
Chromium runs no script, and no secret reaches the event log, the metric store, the warehouse,
the lake, the reports or the CLI output."""

import contextlib
import datetime as dt
import io
import json
import os
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from monitoring_platform.cli import main
from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.defs.reports.assets import REPORTS_INDEX_KEY
from monitoring_platform.defs.selection import model_evaluation_selection
from monitoring_platform.demo import QUIET_RUN_CONFIG
from monitoring_platform.lib.alerting.service import Alerting
from monitoring_platform.lib.traffic import generate_traffic
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.support import check

MODEL = "ctr_ranker"
START = dt.date(2026, 11, 10)
DAY = dt.date(2026, 11, 12)
SECRET = "hooks.slack.com/services/T0HOSTILE/B0HOSTILE/SeCrEtToKeN4242"
SECRET_MARK = b"SeCrEtToKeN4242"
PWNED = "window.__pwned=1"

# Strings from the public internet, each set where the pages will show it.
CORPUS = [
    f"<script>{PWNED};alert('xss')</script>",
    f'"><img src=x onerror="{PWNED};alert(1)">',
    f"'><svg onload={PWNED}>",
    f"</script><script>{PWNED}</script>",
    f"</title><script>{PWNED}</script>",
    f"javascript:{PWNED}",
    "'; DROP TABLE monitoring_raw.inference_logs; --",
    "1' OR '1'='1",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "\u202e\u2066evil\u2069 gnp.exe",
    "line\u2028separator\u2029",
    "\x1b[31mred\x1b[0m\x07",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "A" * 5000,
]


def hostile_record(n: int, value: str, **changes) -> dict:
    record = {
        "request_id": f"hostile-{n}-{value[:40]}",
        "timestamp": f"{DAY}T12:{n % 60:02d}:00Z",
        "model_version": value if n % 3 == 0 else "2026.11.0",
        "features": {
            "country": value,
            "device": value if n % 2 else "mobile",
            "query_length": 5,
            "position": 3,
            "item_price": 20.0,
            "user_tenure_days": 100,
            "hour_of_day": 12,
            "discount_pct": None,
        },
        "prediction": 0.4,
        "latency_ms": 30.0,
        "status_code": 200,
    }
    if n % 4 == 1:
        record.update(status_code=500, prediction=None, error=value)
    record.update(changes)
    return record


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", errors="surrogatepass"))


def plant_corpus(raw: Path) -> None:
    logs = raw / "logs" / MODEL / f"dt={DAY}"
    good = [json.dumps(hostile_record(n, v)) for n, v in enumerate(CORPUS)]
    broken = [
        json.dumps(hostile_record(100, "x", request_id="nul\u0000id")),
        json.dumps(hostile_record(101, "x")).replace('"prediction": 0.4', '"prediction": NaN'),
        json.dumps(hostile_record(102, "x")).replace(
            '"latency_ms": 30.0', '"latency_ms": 1e999, "latency_ms": 3'
        ),
        f"<script>{PWNED}</script> not json",
        json.dumps(hostile_record(103, "y" * (2 << 20))),  # over max_line_bytes
    ]
    write_lines(logs / "hostile.jsonl", good + broken)
    write_lines(logs / ".tmp-unfinished.jsonl", good[:2])
    write_lines(logs / "odd\\name.jsonl", [json.dumps(hostile_record(200, "odd key"))])
    # The reference window holds hostile categories too: they must not become allowed.
    before = DAY - dt.timedelta(days=1)
    write_lines(
        raw / "logs" / MODEL / f"dt={before}" / "hostile.jsonl",
        [
            json.dumps(hostile_record(n + 300, v, timestamp=f"{before}T12:00:00Z"))
            for n, v in enumerate(CORPUS)
        ],
    )
    labels = [
        json.dumps(
            {"request_id": f"hostile-{n}-{v[:40]}", "label": 1, "labeled_at": f"{DAY}T13:00:00Z"}
        )
        for n, v in enumerate(CORPUS)
    ]
    labels.append(
        json.dumps({"request_id": "nul\u0000id", "label": 1, "labeled_at": f"{DAY}T13:00:00Z"})
    )
    write_lines(raw / "labels" / MODEL / f"dt={DAY}" / "hostile.jsonl", labels)
    events = [
        json.dumps(
            {
                "request_id": f"hostile-{n}",
                "event_type": v,
                "value": 1,
                "timestamp": f"{DAY}T13:00:00Z",
            }
        )
        for n, v in enumerate(CORPUS)
    ]
    write_lines(raw / "events" / MODEL / f"dt={DAY}" / "hostile.jsonl", events)


def cli(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        main(list(args))
    return out.getvalue() + err.getvalue()


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    raw = small_config_dict(tmp, requests_per_day=600)
    raw["models"] = [m for m in raw["models"] if m["name"] == MODEL]
    raw["warehouse"] = {"path": str(tmp / "warehouse.duckdb")}
    raw["alerts"] = {
        "routes": [{"kind": "slack", "name": "team", "webhook_url_env": "HOSTILE_SLACK_URL"}],
        "rules": [{"routes": ["team"]}],
    }
    path = write_config(tmp, raw)
    os.environ["HOSTILE_SLACK_URL"] = SECRET
    config = load_config(path)
    generate_traffic(config, START, DAY, seed=5, models=[MODEL])
    plant_corpus(tmp / "raw")
    defs = build_definitions(config)
    instance = DagsterInstance.ephemeral()
    assets = [*defs.assets, *defs.asset_checks]
    runs = []
    day = START
    while day <= DAY:
        selection = (
            model_evaluation_selection(MODEL)
            if day == DAY
            else AssetSelection.assets([MODEL, "inference_logs"])
        )
        runs.append(
            materialize(
                assets,
                selection=selection,
                partition_key=day.isoformat(),
                instance=instance,
                resources=dict(defs.resources),
                raise_on_error=False,
                run_config=QUIET_RUN_CONFIG,
            )
        )
        day += dt.timedelta(days=1)
    runs.append(
        materialize(
            assets,
            selection=AssetSelection.assets(REPORTS_INDEX_KEY),
            instance=instance,
            resources=dict(defs.resources),
            raise_on_error=False,
            run_config=QUIET_RUN_CONFIG,
        )
    )
    # Alerts as the sensors would send them: the route's URL is the secret, and it fails.
    alerting = Alerting.for_url(config.metric_store_url(), config.alerts)
    alerting.record([check(model=MODEL, day=DAY)])
    alerting.deliver()
    output = "".join(
        [
            cli("--config", str(path), "alerts", "test", "--route", "team"),
            cli("--config", str(path), "alerts", "status"),
            cli("--config", str(path), "quarantine", "--model", MODEL, "--date", str(DAY)),
        ]
    )
    yield config, instance, runs, output, tmp
    os.environ.pop("HOSTILE_SLACK_URL", None)


@pytest.mark.slow
def test_the_day_with_the_corpus_is_evaluated(evaluated):
    _config, _instance, runs, output, _tmp = evaluated
    day_run = runs[-2]
    failures = [e for e in day_run.all_events if e.event_type_value == "STEP_FAILURE"]
    assert not failures, [str(e.event_specific_data.error)[:500] for e in failures]
    materialized = {e.asset_key.path[-1] for e in day_run.get_asset_materialization_events()}
    assert {"inference_logs", "data_drift_report", "model_performance_report"} <= materialized
    assert "nul" in output and "contains a NUL character" in output


@pytest.mark.slow
def test_no_page_runs_a_script_from_the_data(evaluated):
    _config, _instance, _runs, _output, tmp = evaluated
    pages = sorted((tmp / "reports").rglob("*.html"))
    assert len(pages) >= 4, pages
    for page in pages:
        data = page.read_bytes()
        assert b"\x00" not in data, page
        seen = visit(page, evaluate="window.__pwned === undefined ? null : window.__pwned")
        assert seen.evaluated is None, page
        assert seen.dialogs == [], page


@pytest.mark.slow
def test_no_secret_anywhere(evaluated):
    _config, instance, runs, output, tmp = evaluated
    assert "route 'team' (slack)" in output  # the CLI said what failed, without the secret
    assert SECRET_MARK.decode() not in output
    for run in runs:
        for record in instance.all_logs(run.run_id):
            assert SECRET_MARK.decode() not in str(record), record
    for path in tmp.rglob("*"):
        if path.is_file() and path.name != "monitoring.yaml":
            assert SECRET_MARK not in path.read_bytes(), path
