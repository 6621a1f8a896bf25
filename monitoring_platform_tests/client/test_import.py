"""The client is importable without the platform's data stack."""

import subprocess
import sys

HEAVY = ("dagster", "pandas", "evidently", "great_expectations", "duckdb", "pyarrow", "sqlalchemy")


def test_client_imports_without_dagster_or_the_data_stack():
    code = (
        "import sys, monitoring_platform.client as c\n"
        "c.Collector; c.CollectionMiddleware; c.WSGICollectionMiddleware\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported: {out.stdout.strip()}"


def test_package_root_imports_nothing_heavy():
    code = (
        "import sys, monitoring_platform\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
