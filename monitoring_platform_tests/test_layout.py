"""The code's shape stays what ARCHITECTURE.md promises: thin Dagster wrappers, short library modules."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "monitoring_platform"
MAX_WRAPPER_LINES = 25
MAX_MODULE_LINES = 500


def _decorated_functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.decorator_list:
            yield node.name, node.end_lineno - node.lineno + 1


def test_every_decorated_function_in_defs_is_a_thin_wrapper():
    long = {
        f"{path.relative_to(PACKAGE)}:{name}": lines
        for path in (PACKAGE / "defs").rglob("*.py")
        for name, lines in _decorated_functions(path)
        if lines > MAX_WRAPPER_LINES
    }
    assert not long, f"decorated functions over {MAX_WRAPPER_LINES} lines: {long}"


def test_no_library_module_is_over_the_limit():
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"
