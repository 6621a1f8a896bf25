"""The warehouse and the dbt project: one resource each, chosen from ``warehouse:`` in the config.

The dbt manifest is made by ``dbt parse`` (no network) when the definitions load and the
manifest is missing or older than the project's files.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource

from monitoring_platform.config import MonitoringConfig
from monitoring_platform.lib.warehouse import (
    DuckDBWarehouse,
    PostgresWarehouse,
    Warehouse,
    WarehouseError,
)

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
WAREHOUSE_POOL = "warehouse"


class WarehouseResource(ConfigurableResource):
    """The warehouse dbt reads: a DuckDB file (one writer at a time) or PostgreSQL."""

    kind: str = "duckdb"
    path: str | None = None
    url_env: str | None = None
    raw_schema: str = "monitoring_raw"
    dbt_schema: str = "analytics"

    def _url(self) -> str | None:
        if self.kind != "postgres":
            return None
        url = os.environ.get(self.url_env or "")
        if not url:
            raise RuntimeError(
                f"the warehouse URL is not set: put it in the environment variable {self.url_env}"
            )
        return url

    def get(self) -> Warehouse:
        """The warehouse of the configured type."""
        if self.kind == "postgres":
            return PostgresWarehouse(
                self._url() or "", raw_schema=self.raw_schema, dbt_schema=self.dbt_schema
            )
        if self.kind != "duckdb" or not self.path:
            raise WarehouseError(f"unknown warehouse type {self.kind!r} or no DuckDB file path")
        return DuckDBWarehouse(self.path, raw_schema=self.raw_schema, dbt_schema=self.dbt_schema)

    def dbt_environment(self) -> dict[str, str]:
        """The variables ``profiles.yml`` reads for this warehouse (the password among them)."""
        env = {"MONITORING_DBT_TARGET": self.kind, "MONITORING_DBT_SCHEMA": self.dbt_schema}
        if self.kind == "duckdb":
            env["MONITORING_WAREHOUSE_PATH"] = str(self.path)
            return env
        parts = urlsplit(self._url() or "")
        env.update(
            {
                "MONITORING_PG_HOST": parts.hostname or "127.0.0.1",
                "MONITORING_PG_PORT": str(parts.port or 5432),
                "MONITORING_PG_USER": unquote(parts.username or "postgres"),
                "MONITORING_PG_DB": unquote(parts.path.lstrip("/")) or "postgres",
                "DBT_ENV_SECRET_MONITORING_PG_PASSWORD": unquote(parts.password or ""),
            }
        )
        return env


def warehouse_resource(config: MonitoringConfig) -> WarehouseResource:
    """The warehouse resource of ``warehouse:`` in the config."""
    settings = config.warehouse
    return WarehouseResource(
        kind=settings.type,
        path=str(config.warehouse_path()) if settings.type == "duckdb" else None,
        url_env=settings.url_env,
        raw_schema=settings.raw_schema,
        dbt_schema=settings.dbt_schema,
    )


def dbt_executable() -> str:
    """The dbt installed beside this Python (the virtual environment's), else the one on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def dbt_resource(config: MonitoringConfig) -> DbtCliResource:
    """The dbt project, its profile's target the configured warehouse type."""
    return DbtCliResource(
        project_dir=str(DBT_PROJECT_DIR),
        profiles_dir=str(DBT_PROJECT_DIR),
        target=config.warehouse.type,
        dbt_executable=dbt_executable(),
    )


def build_metrics_resources(config: MonitoringConfig) -> dict[str, ConfigurableResource]:
    """The resources of the warehouse stage: ``warehouse`` and ``dbt``."""
    return {"warehouse": warehouse_resource(config), "dbt": dbt_resource(config)}


# ---------------------------------------------------------------------------------------------
# The manifest


def _project_files(project_dir: Path) -> Iterator[Path]:
    for folder in ("models", "macros", "tests"):
        yield from (p for p in (project_dir / folder).rglob("*") if p.is_file())
    yield project_dir / "dbt_project.yml"
    yield project_dir / "profiles.yml"


def manifest_path(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """Where the project's parsed manifest is kept."""
    return project_dir / "target" / "manifest.json"


def ensure_manifest(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """The project's ``manifest.json``, parsed anew when missing or older than a project file.

    ``dbt parse`` reads no database and no network. It writes into a folder of its own, then
    the manifest is moved into place, so processes loading at the same time never read half a file.
    """
    manifest = manifest_path(project_dir)
    if manifest.is_file():
        built = manifest.stat().st_mtime
        if all(p.stat().st_mtime <= built for p in _project_files(project_dir)):
            return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    command = [dbt_executable()]
    with tempfile.TemporaryDirectory(dir=manifest.parent, prefix="parse-") as tmp:
        env = {
            **os.environ,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MONITORING_DBT_TARGET": "duckdb",
            "MONITORING_WAREHOUSE_PATH": str(Path(tmp) / "parse.duckdb"),
        }
        done = subprocess.run(
            [
                *command,
                "parse",
                "--quiet",
                "--no-partial-parse",
                "--project-dir",
                str(project_dir),
                "--profiles-dir",
                str(project_dir),
                "--target-path",
                tmp,
                "--log-path",
                tmp,
            ],
            cwd=project_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"dbt parse of {project_dir} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        os.replace(Path(tmp) / "manifest.json", manifest)
    return manifest
