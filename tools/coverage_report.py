"""Line coverage per package, from the unit tests, the integration tests and the whole suite.

Reads the ``.coverage`` file that ``pytest --cov --cov-context=test`` wrote (``./dev.sh test``
does) and prints one row per package: the test contexts tell which tests ran each line. Lines
run in subprocesses (``python -m sandbox up``, Dagster's run workers) are not measured.

    .venv/bin/python -m tools.coverage_report
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("platform_assets/core", "platform_assets/spec", "platform_assets", "resources",
            "sensors", "schedules", "jobs", "sandbox")
# Lines run while pytest imports the test modules (definitions, module constants) have the empty
# context and count for both suites.
SUITES = {"unit": ["tests/unit/", "^$"], "integration": ["tests/integration/", "^$"], "all": []}


def package_of(rel: str) -> str | None:
    return next((p for p in PACKAGES if rel.startswith(p + "/")), None)


def sources() -> list[Path]:
    """Every module of the measured packages, imported by a test or not (unrun files count)."""
    return sorted(f for p in PACKAGES for f in (ROOT / p).rglob("*.py")
                  if package_of(f.relative_to(ROOT).as_posix()) == p)


def percentages(cov: coverage.Coverage, contexts: list[str]) -> dict[str, tuple[int, int]]:
    """(statements, covered) per package, counting only lines run under ``contexts``."""
    cov.get_data().set_query_contexts(contexts or None)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for path in sources():
        package = package_of(path.relative_to(ROOT).as_posix())
        assert package is not None
        _, statements, _, missing, _ = cov.analysis2(str(path))
        totals[package][0] += len(statements)
        totals[package][1] += len(statements) - len(missing)
    return {p: (n, hit) for p, (n, hit) in totals.items()}


def main() -> int:
    data_file = ROOT / ".coverage"
    if not data_file.exists():
        sys.stderr.write("no .coverage file: run pytest with --cov --cov-context=test first\n")
        return 1
    cov = coverage.Coverage(data_file=str(data_file))
    cov.load()
    by_suite = {name: percentages(cov, ctx) for name, ctx in SUITES.items()}
    out = [f"{'line coverage':<24}" + "".join(f"{s:>13}" for s in SUITES)]
    for package in PACKAGES:
        cells = []
        for suite in SUITES:
            n, hit = by_suite[suite].get(package, (0, 0))
            cells.append(f"{100 * hit / n:>12.0f}%" if n else f"{'-':>13}")
        out.append(f"{package + '/':<24}" + "".join(cells))
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
