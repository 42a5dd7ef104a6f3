"""The code location's one explicit ``Definitions``, built from the platform spec.

Everything a newcomer looks for starts here: assets and checks from ``platform_assets``, jobs
from ``jobs``, schedules from ``schedules``, sensors from ``sensors`` and resources from
``resources``. Loading reads the spec and builds the graph; it makes no network calls.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from platform_assets.heap import heap_frozen

# Our modules and the Definitions are tens of thousands of long-lived objects; the full
# collections they set off would walk Dagster's objects too (a fifth of the load's CPU, more in a
# fleet): imported and built with what was loaded before kept out of those collections, and
# with no collection at all while they are (nearly all they allocate lives on).
with heap_frozen(collect=False):
    from jobs import build_jobs
    from platform_assets.backup_assets import build_backup_assets
    from platform_assets.certificate_assets import build_certificate_assets
    from platform_assets.reconcile_assets import build_reconcile_assets
    from platform_assets.spec.loader import load_graphs
    from resources import build_resources
    from schedules import build_schedules
    from sensors import build_fleet_sensors, build_sensors


def build_definitions(spec_path: str | Path | None = None) -> dg.Definitions:
    """Assemble the Definitions for the spec at ``spec_path``: with environments, each one's
    assets (keys prefixed by its name), jobs, schedules and resources side by side."""
    with heap_frozen(collect=False):
        defs = _assemble(spec_path)
        # Resolved here, as loading the code location does next anyway (it is cached), so
        # that its objects are built inside the block too.
        defs.get_repository_def()
    return defs


def _assemble(spec_path: str | Path | None) -> dg.Definitions:
    graphs = load_graphs(spec_path)
    by_env = {g.environment: g for g in graphs}
    assets, checks, jobs, schedules = [], [], [], []
    resources: dict[str, object] = {}
    for graph in graphs:
        promo = graph.spec.promotion
        a, c = build_reconcile_assets(graph, by_env.get(promo.after) if promo else None)
        assets.extend(a)
        checks.extend(c)
        for build in (build_backup_assets, build_certificate_assets):
            a, c = build(graph)
            assets.extend(a)
            checks.extend(c)
        own = build_resources(graph, shared=graph is graphs[0])
        resources.update(own)
        jobs.extend(build_jobs(graph, own))
        schedules.extend(build_schedules(graph))
    fleet = graphs[0].environment is not None
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        schedules=schedules,
        sensors=build_fleet_sensors(graphs, jobs) if fleet else build_sensors(graphs[0], jobs),
        resources=resources,
    )


defs = build_definitions()
