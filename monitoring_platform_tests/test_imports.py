"""The package's import graph: every import, at module level or inside a function, counts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from monitoring_platform_tests.conftest import REPO


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at ``root``."""
    modules = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (a name imported from a module counts as it)."""
    modules = module_names(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_the_package_has_no_import_cycle():
    found = cycles(import_graph(REPO / "monitoring_platform"))
    assert found == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize(
    ("importer", "line"),
    [
        ("pkg/a.py", "from pkg.b import thing\n"),
        ("pkg/a.py", "def later():\n    from pkg import b\n"),
        ("pkg/sub/c.py", "from ..b import thing\n"),
        ("pkg/sub/c.py", "import pkg.b\n"),
    ],
)
def test_a_cycle_through_any_kind_of_import_is_found(tmp_path, importer, line):
    package = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "",
            "pkg/b.py": f"from pkg.{Path(importer).with_suffix('').relative_to('pkg').as_posix().replace('/', '.')} import x\nthing = 1\n",
            importer: line,
        },
    )
    assert cycles(import_graph(package)) == [
        sorted(
            [
                "pkg.b",
                "pkg."
                + Path(importer).with_suffix("").relative_to("pkg").as_posix().replace("/", "."),
            ]
        )
    ]


def test_imports_in_one_direction_are_no_cycle(tmp_path):
    package = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import x\n",
            "pkg/a.py": "from pkg.b import y\nx = y\n",
            "pkg/b.py": "import json\ny = 1\n",
        },
    )
    assert import_graph(package) == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": set()}
    assert cycles(import_graph(package)) == []


def test_the_configuration_imports_nothing_else_of_the_platform():
    graph = import_graph(REPO / "monitoring_platform")
    outside = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith("monitoring_platform.config")
        for target in targets
        if not target.startswith("monitoring_platform.config")
    }
    assert outside == set()


def test_the_library_imports_no_dagster():
    lib = REPO / "monitoring_platform" / "lib"
    importers = set()
    for path in lib.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name == "dagster" or name.startswith("dagster") for name in names):
                importers.add(path.relative_to(lib).as_posix())
    assert importers == set()
