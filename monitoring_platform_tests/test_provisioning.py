"""`make test` provisions what the suite needs beyond Python, or says in one line what is missing."""

import os
import shutil
import subprocess

from monitoring_platform_tests.conftest import REPO

SCRIPT = REPO / "scripts" / "provision-tests"


def test_make_test_provisions_and_lints_before_the_tests_and_ci_runs_it():
    done = subprocess.run(
        ["make", "-n", "test"], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    )
    commands = done.stdout.splitlines()

    def first(word):
        return next(n for n, line in enumerate(commands) if word in line)

    pytest_at = first("/pytest")
    assert first("scripts/provision-tests") < pytest_at
    assert first("ruff check") < pytest_at and first("ruff format --check") < pytest_at
    assert first("/mypy") < pytest_at
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci and "apt-get" not in ci


def test_a_machine_without_chromium_and_not_root_gets_one_line(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "ls", "sort", "tail", "seq", "sleep", "pg_isready", "pg_ctlcluster"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
    (bin_dir / "id").chmod(0o755)
    done = subprocess.run(
        [str(bin_dir / "bash"), str(SCRIPT)],
        env={**os.environ, "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "missing chromium, prometheus, docker-compose" in lines[0]
    assert "apt-get install" in lines[0]


def test_on_this_machine_everything_is_there():
    done = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
