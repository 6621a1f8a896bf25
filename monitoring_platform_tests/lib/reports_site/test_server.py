"""`serve-reports` serves the reports folder on localhost."""

import re
import subprocess
import sys
import urllib.request

import pytest

from monitoring_platform.lib.reports import publish_site_page
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import REPO, small_config_dict, write_config
from monitoring_platform_tests.lib.reports_site.conftest import render


@pytest.mark.slow
def test_serve_reports_serves_the_folder_on_localhost(tmp_path):
    config_path = write_config(tmp_path, small_config_dict(tmp_path))
    reports = tmp_path / "reports"
    (reports / "ctr_ranker" / "2026-10-31").mkdir(parents=True)
    publish_site_page(LocalObjectStore(reports), "index.html", render())
    (reports / "ctr_ranker" / "2026-10-31" / "data_drift.html").write_text("<p>drift</p>")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitoring_platform.cli", "--config", str(config_path)]
        + ["serve-reports", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        base = match.group(0)
        with urllib.request.urlopen(base, timeout=30) as response:
            assert response.status == 200 and b"Model monitoring reports" in response.read()
        with urllib.request.urlopen(base + "ctr_ranker/2026-10-31/data_drift.html") as response:
            assert response.read() == b"<p>drift</p>"
        seen = visit(base)
        assert seen.page_errors == [] and "ctr_ranker" in seen.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
