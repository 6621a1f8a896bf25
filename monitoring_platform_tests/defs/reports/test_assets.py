"""The reports site over real evaluations: the index reflects the metric store, every link from it
resolves, every page kind names its model, day and page and carries the navigation, hostile
values stay inert, and the pages are opened and photographed in headless Chromium."""

import datetime as dt
import re
import struct

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.defs.keys import WEEKLY_DIGEST_KEY
from monitoring_platform.defs.resources import LOCAL_REPORTS_BASE_URL
from monitoring_platform.defs.selection import model_evaluation_selection
from monitoring_platform.demo import QUIET_RUN_CONFIG
from monitoring_platform.lib.metric_store import Metric, MetricStore
from monitoring_platform.lib.reports import REPORT_TITLES
from monitoring_platform.simulation import generate_traffic
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.site_crawl import crawl

START, END = dt.date(2026, 11, 1), dt.date(2026, 11, 4)
MODEL = "ctr_ranker"
HOSTILE = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'

PAGE_FACTS = """() => ({
    h1: document.querySelector('h1') && document.querySelector('h1').textContent,
    nav: Array.from(document.querySelectorAll('nav.site a')).map(a => a.textContent.trim()),
    current: Array.from(document.querySelectorAll('nav.site [aria-current=page]')).map(
        a => a.textContent),
    pwned: window.__pwned === undefined ? null : window.__pwned,
    cells: Object.fromEntries(Array.from(document.querySelectorAll('td.day[data-day]'))
        .map(td => [td.dataset.day, td.className.replace('day ', '')])),
    limits: document.querySelectorAll('section.model > .charts line.limit').length,
})"""


def _png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def _setup(tmp_path, seed):
    """A one-model configuration with traffic from START to END: its assets, resources, store."""
    config = load_config(write_config(tmp_path, small_config_dict(tmp_path, requests_per_day=400)))
    generate_traffic(config, START, END, seed=seed, models=[MODEL])
    defs = build_definitions(config)
    everything = [*defs.assets, *(defs.asset_checks or [])]
    return everything, dict(defs.resources), MetricStore(config.metric_store_url())


def _evaluate(everything, resources, instance, day):
    return materialize(
        everything,
        selection=model_evaluation_selection(MODEL),
        partition_key=day.isoformat(),
        instance=instance,
        resources=resources,
        raise_on_error=False,
        run_config=QUIET_RUN_CONFIG,
    )


def _evaluate_every_day(everything, resources, instance):
    day = START
    while day <= END:
        _evaluate(everything, resources, instance, day)
        day += dt.timedelta(days=1)


def _index(everything, resources, instance):
    return materialize(
        everything,
        selection=[AssetKey(["reports_index"])],
        instance=instance,
        resources=resources,
        run_config=QUIET_RUN_CONFIG,
    )


@pytest.mark.slow
def test_reports_site_over_real_evaluations(tmp_path):
    everything, resources, store = _setup(tmp_path, seed=2)
    with DagsterInstance.ephemeral() as instance:
        _evaluate_every_day(everything, resources, instance)
        # Values from the public internet reach the metric store: a check's text, a metric name.
        store.record_check(
            MODEL, END, "inference_logs", "hostile_check", False, "WARN", {"description": HOSTILE}
        )
        store.replace_metrics(MODEL, END, "hostile_asset", [Metric(HOSTILE, 1.0)])
        digest = materialize(
            everything,
            selection=[WEEKLY_DIGEST_KEY],
            partition_key="2026-11-02",  # ISO week 2026-W45, Monday to Sunday
            instance=instance,
            resources=resources,
            run_config=QUIET_RUN_CONFIG,
        )
        result = _index(everything, resources, instance)
    assert result.success and digest.success
    (digest_event,) = digest.get_asset_materialization_events()
    digest_meta = digest_event.event_specific_data.materialization.metadata
    assert digest_meta["week"].value == "2026-W45"
    assert digest_meta["email"].value == "not sent (digest.send is off)"
    (event,) = result.get_asset_materialization_events()
    root = tmp_path / "reports"
    index = root / "index.html"
    link = event.event_specific_data.materialization.metadata["report"].value
    assert link == f"{LOCAL_REPORTS_BASE_URL}/index.html"

    # Every link from the index resolves (pages, fragments, the shared files), and every report
    # file is reached.
    site = crawl(root)
    assert site.broken == []
    assert root / "digest" / "2026-W45.html" in site.pages, "the index links the digest"
    reports = set((root / MODEL).rglob("*.html"))
    assert {p.name for p in reports} >= {"validation.html", "data_drift.html"}
    assert reports <= site.pages
    shared = {p.name for p in (root / "_static").iterdir()}
    assert any(n.startswith("evidently-") and n.endswith(".js") for n in shared)
    assert sum(p.stat().st_size for p in reports) < 2_000_000 * len({p.parent for p in reports}), (
        "no page carries Evidently's 3.5 MB bundle"
    )

    # The calendar colour of each day is the worst outcome recorded in check_results.
    checks = pd.DataFrame(store.checks(model=MODEL))
    expected = {}
    for day, group in checks.groupby("partition_date"):
        failed = group[~group["passed"]]
        expected[day.isoformat()] = (
            "error" if (failed["severity"] == "ERROR").any() else ("warn" if len(failed) else "ok")
        )

    shots = tmp_path / "shots"
    shots.mkdir()
    seen = visit(
        index,
        evaluate=PAGE_FACTS,
        screenshot=shots / "index.png",
        full_page_screenshot=shots / "index-full.png",
    )
    facts = seen.evaluated
    assert seen.page_errors == [] and seen.console_errors == [] and seen.dialogs == []
    assert facts["pwned"] is None and HOSTILE in _text(index)
    assert seen.title == "Model monitoring reports" and facts["h1"] == seen.title
    assert {d: c for d, c in facts["cells"].items() if d in expected} == expected
    assert facts["limits"] >= 2, "trend charts carry their limits"
    assert MODEL in facts["nav"]

    # Each page kind: title and heading name the page, model and day; the bar leads to the
    # index, the model, the day's other reports and the neighbouring days.
    kinds = {}
    for page in sorted(reports):
        kinds.setdefault(page.stem, []).append(page)
    for name, pages in kinds.items():
        page = pages[len(pages) // 2]
        day = page.parent.name
        seen = visit(
            page,
            evaluate=PAGE_FACTS,
            screenshot=shots / f"{name}.png",
            full_page_screenshot=shots / f"{name}-full.png",
        )
        facts = seen.evaluated
        assert seen.page_errors == [] and seen.dialogs == [], (name, seen.page_errors)
        assert facts["pwned"] is None
        title = REPORT_TITLES[name]
        assert seen.title == f"{title} · {MODEL} · {day}"
        assert facts["h1"] == f"{title} of {MODEL} on {day}"
        assert facts["nav"][:2] == ["All models", MODEL]
        assert facts["current"] == [title]
        others = {p.stem for p in page.parent.glob("*.html")} - {name}
        assert {REPORT_TITLES[o] for o in others} <= set(facts["nav"])
        earlier = [p for p in pages if p.parent.name < day]
        later = [p for p in pages if p.parent.name > day]
        if earlier:
            assert f"← previous day {earlier[-1].parent.name}" in facts["nav"]
        if later:
            assert f"next day {later[0].parent.name} →" in facts["nav"]
    seen = visit(
        root / "digest" / "2026-W45.html",
        evaluate=PAGE_FACTS,
        screenshot=shots / "digest.png",
        full_page_screenshot=shots / "digest-full.png",
    )
    assert seen.page_errors == [] and seen.dialogs == [] and seen.evaluated["pwned"] is None
    assert seen.title == "Weekly digest · 2026-W45 · 2026-11-02 to 2026-11-08"
    assert seen.evaluated["h1"] == "Weekly digest for 2026-W45 (2026-11-02 to 2026-11-08)"
    failed = int((~checks[checks["partition_date"] >= dt.date(2026, 11, 2)]["passed"]).sum())
    run = int((checks["partition_date"] >= dt.date(2026, 11, 2)).sum())
    assert f"{failed} of {run} checks failed across the fleet" in seen.text
    for shot in shots.iterdir():
        width, height = _png_size(shot)
        assert width == 1400 and height >= 600, shot.name
    assert {s.stem for s in shots.iterdir()} >= {"index", "index-full", "validation-full"}


def _text(path):
    from html import unescape

    return unescape(path.read_text())


@pytest.mark.slow
def test_a_step_that_failed_on_a_rerun_is_shown_as_from_an_earlier_evaluation(tmp_path):
    from monitoring_platform.lib import lake
    from monitoring_platform.lib.reports_site.status import STALE_NOTE

    everything, resources, store = _setup(tmp_path, seed=3)

    def drift_run(rows):
        (run,) = {r["run_id"] for r in rows if r["asset"] == "data_drift_report"}
        return run

    with DagsterInstance.ephemeral() as instance:
        _evaluate_every_day(everything, resources, instance)
        first = store.metrics(model=MODEL, partition_date=END, metric="drift_share")
        assert first and first[0]["value"] is not None, "the drift step evaluated the last day"
        drift_page = tmp_path / "reports" / MODEL / END.isoformat() / "data_drift.html"
        assert drift_page.exists()

        # Damage every earlier day's lake file: re-running the last day ingests it again, then
        # the steps that read the reference window (validation, drift) fail.
        lake_root = tmp_path / "lake"
        day = START
        while day < END:
            (lake_root / lake.partition_key(lake.ACCEPTED, MODEL, day)).write_bytes(b"\0" * 64)
            day += dt.timedelta(days=1)
        rerun = _evaluate(everything, resources, instance, END)
        assert not rerun.success
        after = store.metrics(model=MODEL, partition_date=END)
        logs_run = {r["run_id"] for r in after if r["asset"] == "inference_logs"}
        assert logs_run == {rerun.run_id}
        assert drift_run(after) == drift_run(first) != rerun.run_id

        result = _index(everything, resources, instance)
    assert result.success
    index = _text(tmp_path / "reports" / "index.html")
    cells = {
        d: c
        for c, d in re.findall(
            r'<td class="day ([a-z ]+)" title="[^"]*" data-day="([0-9-]+)">', index
        )
    }
    assert cells[END.isoformat()].endswith(" stale")
    assert not any(c.endswith("stale") for d, c in cells.items() if d != END.isoformat())
    tip = re.search(rf'title="([^"]*)" data-day="{END}"', index).group(1)
    # Validation reads the same reference window and fails with drift; the ingest finished.
    assert tip.endswith(STALE_NOTE) and "Data drift" in tip and "all checks passed" in tip
    assert "Evaluation incomplete" in index
    # The key figure of drift is the earlier run's, and says so; the day's drift page too.
    cards = re.findall(r'<div class="kpi stale">.*?</div></div>', index, re.S)
    assert any("Features drifted" in c and STALE_NOTE in c for c in cards)
    assert re.search(
        rf'<a class="rep stale" href="{MODEL}/{END}/data_drift.html" title="[^"]*'
        + re.escape(STALE_NOTE),
        index,
    )
    assert re.search(
        rf'<div class="kpi"><div class="v">[^<]*</div><div class="l">Records quarantined · {END}<',
        index,
    )
