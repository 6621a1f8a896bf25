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
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()
_PARSED: dict[tuple[str, str], Any] = {}
_LEVELS = {"info", "warn", "error"}


@dataclass
class DbtRun:
    """What one dbt invocation did: success, its structured events and its console lines."""

    success: bool
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    target_path: Path | None = None


@contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
    """The project's parsed manifest for ``target``, parsed once per process.

    The parse state lives in ``target/parse-<target>`` under the project so the next process
    re-parses only changed files; an OS lock keeps two processes from writing it at once.
    """
    key = (str(project_dir), target)
    with _LOCK:
        if key in _PARSED:
            return _PARSED[key]
        from dbt.cli.main import dbtRunner

        state = project_dir / "target" / f"parse-{target}"
        state.mkdir(parents=True, exist_ok=True)
        with (
            _environ({**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}),
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


def _close_connections() -> None:
    """Release the warehouse: dbt-duckdb keeps its database open for the process otherwise."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - the DuckDB adapter is installed with the platform
        return
    DuckDBConnectionManager.close_all_connections()


def invoke(
    project_dir: Path,
    target: str,
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    keep_target: bool = False,
) -> DbtRun:
    """Run ``dbt <args>`` in this process against the parsed project, with ``env`` set.

    ``env`` holds what ``profiles.yml`` reads. The run's artifacts go to a fresh folder under the
    project's target folder, removed afterwards unless the run failed or ``keep_target``.
    """
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    manifest = parsed_project(project_dir, target, env)
    events: list[dict[str, Any]] = []
    lines: list[str] = []

    def collect(msg: Any) -> None:
        event = msg_to_dict(msg)
        events.append(event)
        info = event.get("info", {})
        if info.get("level") in _LEVELS and info.get("msg"):
            lines.append(str(info["msg"]))

    (project_dir / "target").mkdir(parents=True, exist_ok=True)
    target_path = Path(tempfile.mkdtemp(prefix="run-", dir=project_dir / "target"))
    full = [*args, *_common_args(project_dir, target)]
    full += ["--target-path", str(target_path), "--log-path", str(target_path), "--quiet"]
    with _LOCK, _environ({**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}):
        try:
            result = dbtRunner(manifest=manifest, callbacks=[collect]).invoke(full)
        finally:
            _close_connections()
    if result.exception is not None:
        lines.append(f"{type(result.exception).__name__}: {result.exception}")
    run = DbtRun(bool(result.success), events, lines, target_path)
    if run.success and not keep_target:
        _remove(target_path)
    return run


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
