"""`serve-reports` serves the reports folder on localhost, and SIGTERM stops it."""

import re
import signal
import subprocess
import sys
import urllib.request

import pytest

from monitoring_platform.lib.reports import publish_site_page
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import REPO, small_config_dict, write_config
from monitoring_platform_tests.lib.reports_site.conftest import render


def start_server(config_path, **popen) -> subprocess.Popen:
    """``monitoring-platform serve-reports`` on a free port, its output readable."""
    return subprocess.Popen(
        [sys.executable, "-m", "monitoring_platform.cli", "--config", str(config_path)]
        + ["serve-reports", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        **popen,
    )


@pytest.mark.slow
def test_serve_reports_serves_the_folder_on_localhost(tmp_path):
    config_path = write_config(tmp_path, small_config_dict(tmp_path))
    reports = tmp_path / "reports"
    (reports / "ctr_ranker" / "2026-10-31").mkdir(parents=True)
    publish_site_page(LocalObjectStore(reports), "index.html", render())
    (reports / "ctr_ranker" / "2026-10-31" / "data_drift.html").write_text("<p>drift</p>")
    proc = start_server(config_path)
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


@pytest.mark.parametrize("inherited", ["blocked", "ignored"])
def test_sigterm_stops_serve_reports_whatever_it_inherited(tmp_path, inherited):
    # A process manager or test runner may start it with SIGTERM blocked or ignored; both pass
    # to the child. The command takes the signal back and stops as on Ctrl+C.
    (tmp_path / "reports").mkdir()
    config_path = write_config(tmp_path, small_config_dict(tmp_path))

    def inherit() -> None:
        if inherited == "blocked":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        else:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    # What the child inherits is the point of the test.
    proc = start_server(config_path, preexec_fn=inherit)
    try:
        while "Serving" not in (line := proc.stdout.readline()):
            assert line, "the server exited before serving"
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
