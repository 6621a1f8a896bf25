"""Report links in Dagster's metadata are http URLs a browser opens from the UI's page."""

import threading

from monitoring_platform.defs.resources import LOCAL_REPORTS_BASE_URL, StorageResource
from monitoring_platform.lib.reports_site.server import reports_server
from monitoring_platform.lib.storage import open_store
from monitoring_platform_tests.browser import visit

KEY = "ctr_ranker/2026-11-03/data_drift.html"


def test_local_reports_link_to_the_reports_server_and_a_base_url_wins(tmp_path):
    storage = StorageResource(lake=str(tmp_path / "lake"), reports=str(tmp_path / "reports"))
    store = storage.reports_store()
    assert storage.report_link(store, KEY) == f"{LOCAL_REPORTS_BASE_URL}/{KEY}"
    assert storage.report_link(store, "m/2026-11-03/a b.html").endswith("/m/2026-11-03/a%20b.html")
    based = storage.model_copy(update={"reports_base_url": "https://reports.example.com/ml/"})
    assert based.report_link(store, KEY) == f"https://reports.example.com/ml/{KEY}"
    s3 = StorageResource(lake="s3://b/lake", reports="s3://b/reports")
    assert s3.report_link(s3.reports_store(), KEY) == f"s3://b/reports/{KEY}"


def test_a_report_link_opens_in_chromium_from_the_reports_server(tmp_path):
    reports = tmp_path / "reports"
    store = open_store(str(reports))
    store.put_bytes(KEY, b"<html><body><h1>Dataset Drift</h1></body></html>")
    server = reports_server(str(reports), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        storage = StorageResource(
            lake=str(tmp_path / "lake"),
            reports=str(reports),
            reports_base_url=f"http://{host}:{port}",
        )
        link = storage.report_link(store, KEY)
        assert link.startswith("http://")
        shot = tmp_path / "report_link.png"
        seen = visit(link, screenshot=shot)
        assert "Dataset Drift" in seen.text and seen.page_errors == []
    finally:
        server.shutdown()
        server.server_close()
