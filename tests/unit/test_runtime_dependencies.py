"""The code-location image installs only the runtime dependencies (``uv sync --no-dev``): every
module the product code imports must come from them, and the test tools must not."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("platform_assets", "jobs", "schedules", "sensors", "resources")
OURS = set(PRODUCT) | {"sandbox"}


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _runtime_closure() -> set[str]:
    """Every distribution ``uv sync --no-dev`` installs, from uv.lock."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {_normal(p["name"]): p for p in lock["package"]}
    todo, seen = ["platform-ops"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_normal(d["name"]) for d in packages[name].get("dependencies", []))
    return seen


def _imported_top_level() -> dict[str, str]:
    """Top-level modules the product code imports (anywhere, also inside functions) -> where."""
    found: dict[str, str] = {}
    for folder in PRODUCT:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and node.module
                         and node.level == 0 else [])
                for name in names:
                    found.setdefault(name.split(".")[0], f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_product_code_imports_only_runtime_dependencies() -> None:
    runtime = _runtime_closure()
    dists = packages_distributions()
    outside = []
    for module, where in sorted(_imported_top_level().items()):
        if module in OURS or module in sys.stdlib_module_names:
            continue
        provided_by = {_normal(d) for d in dists.get(module, [])}
        if not provided_by & runtime:
            outside.append(f"{where}: {module} ({', '.join(sorted(provided_by)) or 'unknown'})")
    assert not outside, "imported but not a runtime dependency:\n" + "\n".join(outside)


def test_test_tools_and_the_webserver_are_not_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_normal(d.split(">")[0].split("<")[0].split("[")[0].strip())
                for d in project["dependencies"]}
    assert not declared & {"pytest", "dagster-webserver", "ruff", "mypy", "moto"}
    assert "pytest" not in _runtime_closure()
