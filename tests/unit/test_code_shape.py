"""The style guide's size limit: no function over 60 lines in product code or the sandbox.

Complexity (at most 12) is ruff's C901, set in pyproject.toml; length is not a ruff rule, so it
is counted here from the syntax tree (decorators and docstring included).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("platform_assets", "resources", "jobs", "sensors", "schedules", "sandbox")
MAX_LINES = 60


def _long_functions(root: Path, packages: tuple[str, ...]) -> list[str]:
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    length = (node.end_lineno or node.lineno) - first + 1
                    if length > MAX_LINES:
                        found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} "
                                     f"({length} lines)")
    return found


def test_no_function_is_longer_than_sixty_lines() -> None:
    assert _long_functions(ROOT, PACKAGES) == []


def test_the_scan_reports_a_long_function(tmp_path: Path) -> None:
    # The scan must be able to fail: a 61-line function is reported, a 60-line one is not.
    (tmp_path / "pkg").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    (tmp_path / "pkg" / "mod.py").write_text(
        f"def long():\n{body}\n\n\ndef short():\n{body[body.index(chr(10)) + 1:]}\n")
    assert _long_functions(tmp_path, ("pkg",)) == ["pkg/mod.py:1 long (61 lines)"]
