"""dbt run inside the calling process: imported and parsed once, then invoked per run.

Starting dbt as a command costs seconds before any SQL runs (importing dbt, asking its version,
parsing the project). A process that evaluates many model-days (the demo, a backfill command on
the synchronous launcher, a run worker) pays that once here: the project is parsed on first use
(partial parsing keeps its state beside the project's target folder, so later processes parse
only what changed) and every later invocation reuses the parsed project.

Each invocation returns dbt's structured events as the dictionaries dbt writes as JSON log lines,
and its console lines, so callers turn them into whatever they report.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitoring_platform.lib.environment import environment

_LOCK = threading.Lock()
_PARSED: dict[tuple[str, str, str], Any] = {}
_LEVELS = {"info", "warn", "error"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Lines of dbt's output that name a failure's cause: an exception's last line, dbt's own headings.
_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception)): (.+)$")
_DBT_ERROR_HEADING = re.compile(
    r"^(?:\S+\s+)?((?:Runtime|Database|Compilation|Parsing) Error in .+|Failure in test .+)$"
)
_TIMESTAMP = re.compile(r"^\d{2}:\d{2}:\d{2}(?:\.\d+)?\s+")


def dbt_failure_cause(lines: Sequence[str]) -> str:
    """The one line that says why a dbt invocation failed, from its console output.

    An exception's own last line wins (a traceback ends with it, e.g. DuckDB's lock conflict);
    else dbt's error heading with the message line under it; else the last line printed.
    """
    text = [_TIMESTAMP.sub("", line).strip() for line in lines]
    for line in reversed(text):
        match = _EXCEPTION_LINE.match(line)
        if match:
            return f"{match.group(1)}: {match.group(2)}"
    for i, line in enumerate(text):
        match = _DBT_ERROR_HEADING.match(line)
        if match:
            # The message is the first line under the headings (a failed test prints two).
            detail = next((t for t in text[i + 1 :] if t and not _DBT_ERROR_HEADING.match(t)), "")
            return f"{match.group(1)}: {detail}" if detail else match.group(1)
    return next((t for t in reversed(text) if t), "dbt printed nothing")


@dataclass
class DbtRun:
    """What one dbt invocation did: success, its structured events and its console lines."""

    success: bool
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    target_path: Path | None = None


def _common_args(project_dir: Path, target: str) -> list[str]:
    return [
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target",
        target,
    ]


def parsed_project(project_dir: Path, target: str, env: Mapping[str, str]) -> Any:
    """The project's parsed manifest for ``target`` and its connection, parsed once per process.

    A manifest names the database it was parsed for (DuckDB's catalog is the file's name), so it
    is kept per connection settings ``env``: a process that opens a second warehouse parses again.
    The parse state lives in ``target/parse-<target>`` under the project so the next process
    re-parses only changed files (dbt re-parses when the profile changed); an OS lock keeps two
    processes from writing it at once.
    """
    settings = hashlib.sha256(json.dumps(sorted(env.items())).encode()).hexdigest()
    key = (str(project_dir), target, settings)
    with _LOCK:
        if key in _PARSED:
            return _PARSED[key]
        from dbt.cli.main import dbtRunner

        _cache_repeated_work()
        state = project_dir / "target" / f"parse-{target}"
        state.mkdir(parents=True, exist_ok=True)
        with (
            environment({**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}),
            open(state / ".lock", "w") as lock,
        ):
            fcntl.flock(lock, fcntl.LOCK_EX)
            args = ["parse", "--quiet", *_common_args(project_dir, target)]
            args += ["--target-path", str(state), "--log-path", str(state)]
            result = dbtRunner().invoke(args)
        if not result.success or result.result is None:
            raise RuntimeError(f"dbt parse of {project_dir} failed: {result.exception}")
        _PARSED[key] = result.result
        return result.result


def _cache_repeated_work() -> None:
    """Let dbt keep, for the process, what every invocation would otherwise redo.

    dbt can cache the dbt-prefixed modules it finds on ``sys.path`` (a scan of every installed
    package at each invocation) and the Jinja templates it parses, keyed by their source text.
    It offers this for processes that invoke it many times (``dbt_common.tests``, made for its
    own test suite); neither can go stale here: the packages of a running process and the
    text of a template do not change, and the project is parsed once per process anyway.
    """
    from dbt_common.tests import enable_test_caching

    enable_test_caching()


def _close_connections() -> None:
    """Release the warehouse: dbt-duckdb keeps its database open for the process otherwise."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - the DuckDB adapter is installed with the platform
        return
    DuckDBConnectionManager.close_all_connections()


# The events a caller turns into results (dagster-dbt's converter reads these); every other
# event is read for its console line only, without converting it to a dictionary.
RESULT_EVENTS = frozenset({"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult"})
_SWEPT: set[Path] = set()


def invoke(
    project_dir: Path,
    target: str,
    args: Sequence[str],
    env: Mapping[str, str],
) -> DbtRun:
    """Run ``dbt <args>`` in this process against the parsed project, with ``env`` set.

    ``env`` holds what ``profiles.yml`` reads. The run's events are those of
    :data:`RESULT_EVENTS` (with their node) and the lines dbt printed. Its compiled SQL goes to
    this process's run folder (``target/run-<pid>``), which the next invocation overwrites; a
    failed run's folder is kept (``target/failed-<pid>-<n>``) and named in ``target_path``.
    """
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    manifest = parsed_project(project_dir, target, env)
    events: list[dict[str, Any]] = []
    lines: list[str] = []

    def collect(msg: Any) -> None:
        info = msg.info
        if info.name in RESULT_EVENTS:
            events.append(msg_to_dict(msg))
        if info.level in _LEVELS and info.msg:
            lines.extend(_ANSI.sub("", str(info.msg)).splitlines())

    full = [*args, *_common_args(project_dir, target)]
    with _LOCK, environment({**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}):
        target_path = _run_folder(project_dir)
        full += ["--target-path", str(target_path), "--log-path", str(target_path)]
        # No manifest.json or run_results.json: the events carry every result the caller reads.
        # The folder's dbt.log holds warnings and errors only: writing every debug event (each
        # query, each node's steps) took a quarter of a small build.
        full += ["--quiet", "--no-write-json", "--log-level-file", "warn"]
        try:
            result = dbtRunner(manifest=manifest, callbacks=[collect]).invoke(full)
        finally:
            _close_connections()
        if result.exception is not None:
            lines.append(f"{type(result.exception).__name__}: {result.exception}")
        if not result.success:
            target_path = _keep_failed(target_path)
    return DbtRun(bool(result.success), events, lines, target_path)


def _run_folder(project_dir: Path) -> Path:
    """This process's folder for dbt's compiled SQL; the folders of ended processes removed.

    Writing over the last run's files costs nothing extra; removing a run's folder of compiled
    SQL after every run took a sixth of a small build.
    """
    base = project_dir / "target"
    if base not in _SWEPT:
        _SWEPT.add(base)
        for folder in base.glob("run-*"):
            pid = folder.name.removeprefix("run-")
            if not pid.isdigit() or not _alive(int(pid)):
                _remove(folder)
    folder = base / f"run-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


# Failed runs' folders kept for reading what dbt compiled; older ones are removed.
KEEP_FAILED = 10


def _keep_failed(folder: Path) -> Path:
    """Move a failed run's folder aside, so the next run does not write over its files.

    Only the newest :data:`KEEP_FAILED` failed folders stay: a warehouse that fails every day
    would otherwise fill the disk with compiled SQL.
    """
    n = 0
    while (kept := folder.with_name(f"failed-{os.getpid()}-{n}")).exists():
        n += 1
    folder.rename(kept)
    os.utime(kept)  # the newest, whatever its files' times
    failed = sorted(folder.parent.glob("failed-*"), key=_mtime, reverse=True)
    for old in failed[KEEP_FAILED:]:
        _remove(old)
    return kept


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # removed by another process meanwhile
        return 0.0


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
