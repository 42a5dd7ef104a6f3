"""The code location's one explicit ``Definitions``, built from the platform spec.

Everything a newcomer looks for starts here: assets and checks from ``platform_assets``, jobs
from ``jobs``, schedules from ``schedules``, sensors from ``sensors`` and resources from
``resources``. Loading reads the spec and builds the graph; it makes no network calls.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from jobs import build_jobs
from platform_assets.backup_assets import build_backup_assets
from platform_assets.certificate_assets import build_certificate_assets
from platform_assets.reconcile_assets import build_reconcile_assets
from platform_assets.spec.loader import load_graph
from resources import build_resources
from schedules import build_schedules
from sensors import build_sensors


def build_definitions(spec_path: str | Path | None = None) -> dg.Definitions:
    """Assemble the Definitions for the spec at ``spec_path``."""
    graph = load_graph(spec_path)
    assets, checks = [], []
    for build in (build_reconcile_assets, build_backup_assets, build_certificate_assets):
        a, c = build(graph)
        assets.extend(a)
        checks.extend(c)
    jobs = build_jobs(graph)
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        schedules=build_schedules(graph),
        sensors=build_sensors(graph, jobs),
        resources=build_resources(graph),
    )


defs = build_definitions()
